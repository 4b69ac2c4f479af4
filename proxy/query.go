package proxy

import (
	"crypto/tls"
	"strings"

	"github.com/switchyard/switchyard/proxy/wire"
	"github.com/switchyard/switchyard/routing"
)

// query handles COM_QUERY.
func (s *session) query(pkt []byte) error {
	sql := pkt[1:]
	if id, q, ok := parseKill(sql); ok {
		return s.killCmd(id, q)
	}
	if name, ok := parseTLSStatus(sql); ok {
		return s.tlsStatus(name)
	}
	r := &s.req
	*r = request{pkt: pkt, sql: sql, cls: routing.Classify(sql), ph: phFirst}
	if r.cls.Kind == routing.KindSet {
		r.sets, r.setOK = routing.ParseSet(sql, s.setItems[:0])
		s.setItems = r.sets[:0]
	}
	return s.run1(r)
}

// applyEffects records what a successful statement did to the session: its
// state (run on b, which now carries it) and reasons to stay pinned.
func (s *session) applyEffects(b *backend, r *request) {
	cls := r.cls
	switch cls.Kind {
	case routing.KindUse:
		db := r.useDB
		if r.cmd != wire.ComInitDB {
			var ok bool
			if db, ok = routing.ParseUse(r.sql); !ok {
				s.reasons |= pinUnknownSet // cannot tell which database is current
			}
		}
		if db != s.st.db {
			n := s.st.clone()
			n.db = db
			s.st = n
		}
	case routing.KindSet:
		s.applySet(b, r)
	case routing.KindLockTables:
		s.reasons |= pinLockTables
	case routing.KindUnlockTables:
		s.reasons &^= pinLockTables
	case routing.KindPrepare:
		s.reasons |= pinSQLPrepare
	}
	if cls.Flags&routing.FlagTempTable != 0 {
		s.reasons |= pinTemp
	}
	if cls.Flags&routing.FlagUserLock != 0 {
		s.reasons |= pinUserLock
	}
	if cls.Flags&routing.FlagSessionState != 0 || cls.Flags&routing.FlagMultiStatement != 0 && !cls.ReplicaSafe() {
		s.reasons |= pinMulti // reads alone change no session state; HANDLER ... OPEN does
	}
	if cls.Flags&routing.FlagUserVarAssign != 0 && cls.Kind != routing.KindSet {
		s.reasons |= pinUserVar // SELECT ... INTO @v, @v := expr: value only on this backend
	}
	b.st = s.st
}

// applySet records a successful SET. Literal values are kept as written;
// other session variables are read back from the backend so that relative
// expressions (CONCAT(@@sql_mode, ...)) replay to the same value; user
// variables with computed values pin the session.
func (s *session) applySet(b *backend, r *request) {
	n := s.st.clone()
	if !r.setOK {
		if len(n.verbatim) >= maxVerbatim {
			s.reasons |= pinUnknownSet
			return
		}
		n.verbatim = append(n.verbatim, string(r.sql))
		s.st = n
		return
	}
	for _, it := range r.sets {
		switch it.Scope {
		case routing.SetSession:
			name := strings.ToLower(it.Name)
			val := string(it.Value)
			if !it.Literal {
				v, err := b.queryRow("SELECT @@session." + name)
				q, ok := quoteValue(v, v == nil)
				if err != nil || !ok {
					s.reasons |= pinUnknownSet
					continue
				}
				val = q
			}
			n.setSys(name, val)
		case routing.SetUser:
			if !it.Literal {
				s.reasons |= pinUserVar
				continue
			}
			n.setUser(strings.ToLower(it.Name), string(it.Value))
		case routing.SetNames:
			n.names = "SET NAMES " + string(it.Value)
			if it.Collation != nil {
				n.names += " COLLATE " + string(it.Collation)
			}
		case routing.SetCharacterSet:
			n.names = "SET CHARACTER SET " + string(it.Value)
		case routing.SetSessionTransaction:
			// SET SESSION TRANSACTION ...: replay the statement as written.
			if len(n.verbatim) >= maxVerbatim {
				s.reasons |= pinUnknownSet
				continue
			}
			n.verbatim = append(n.verbatim, string(r.sql))
		}
	}
	if !n.equal(s.st) {
		s.st = n
	}
}

// parseKill recognises KILL [CONNECTION|QUERY] <id>, which must name a proxy
// client id rather than reach a backend.
func parseKill(sql []byte) (id uint64, query, ok bool) {
	i := skipSpace(sql, 0)
	if len(sql)-i < 5 || sql[i]|0x20 != 'k' || !strings.EqualFold(string(sql[i:i+4]), "kill") || !isSpace(sql[i+4]) {
		return 0, false, false
	}
	i = skipSpace(sql, i+4)
	for _, w := range []string{"connection", "query"} {
		if len(sql)-i > len(w) && strings.EqualFold(string(sql[i:i+len(w)]), w) && isSpace(sql[i+len(w)]) {
			query = w == "query"
			i = skipSpace(sql, i+len(w))
			break
		}
	}
	start := i
	for ; i < len(sql) && sql[i] >= '0' && sql[i] <= '9'; i++ {
		id = id*10 + uint64(sql[i]-'0')
	}
	if i == start {
		return 0, false, false
	}
	i = skipSpace(sql, i)
	if i < len(sql) && sql[i] == ';' {
		i = skipSpace(sql, i+1)
	}
	return id, query, i == len(sql)
}

// parseTLSStatus recognises SHOW [SESSION] STATUS LIKE 'Ssl_cipher' (or
// 'Ssl_version'): clients ask it to verify that their connection is
// encrypted, and their connection ends at the proxy, not at a backend.
func parseTLSStatus(sql []byte) (string, bool) {
	i := skipSpace(sql, 0)
	if len(sql)-i > 64 || len(sql)-i < 20 || !strings.EqualFold(string(sql[i:i+4]), "show") || !isSpace(sql[i+4]) {
		return "", false // the hot path: no allocation for other statements
	}
	f := strings.Fields(strings.TrimRight(strings.TrimSpace(string(sql[i:])), ";"))
	if len(f) == 5 && strings.EqualFold(f[1], "session") {
		f = append(f[:1], f[2:]...)
	}
	if len(f) != 4 || !strings.EqualFold(f[0], "show") || !strings.EqualFold(f[1], "status") || !strings.EqualFold(f[2], "like") {
		return "", false
	}
	switch strings.ToLower(f[3]) {
	case "'ssl_cipher'", `"ssl_cipher"`:
		return "Ssl_cipher", true
	case "'ssl_version'", `"ssl_version"`:
		return "Ssl_version", true
	}
	return "", false
}

// tlsStatus answers parseTLSStatus's statements for the client connection.
func (s *session) tlsStatus(name string) error {
	value := ""
	if st, ok := s.c.TLSState(); ok {
		value = tls.VersionName(st.Version)
		if v, found := strings.CutPrefix(value, "TLS "); found {
			value = "TLSv" + v // as OpenSSL names it
		}
		if name == "Ssl_cipher" {
			value = tls.CipherSuiteName(st.CipherSuite)
		}
	}
	row := [][]byte{[]byte(name), []byte(value)}
	if err := wire.WriteTextResult(s.c, s.caps, []string{"Variable_name", "Value"}, [][][]byte{row}, s.status&^wire.StatusSessionStateChanged); err != nil {
		return err
	}
	return s.c.Flush()
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}
