package routing

import (
	"bytes"
	"errors"
	"hash/fnv"
	"strings"
	"testing"
	"unsafe"

	"github.com/switchyard/switchyard/gtid"
	"github.com/switchyard/switchyard/topology"
)

func addSeeds(f *testing.F) {
	for _, c := range loadStatements(f) {
		f.Add(c.sql)
	}
}

// writeWords start statements that change data or the schema.
var writeWords = map[string]bool{
	"INSERT": true, "UPDATE": true, "DELETE": true, "REPLACE": true, "CREATE": true, "ALTER": true,
	"DROP": true, "TRUNCATE": true, "GRANT": true, "REVOKE": true, "LOAD": true, "CALL": true,
	"RENAME": true, "LOCK": true, "HANDLER": true, "KILL": true, "FLUSH": true, "PURGE": true,
	"OPTIMIZE": true, "REPAIR": true, "INSTALL": true, "UNINSTALL": true, "CHANGE": true, "RESET": true,
	"XA": true, "BINLOG": true,
}

// oracleFirstWord is a deliberately simple tokenizer, independent of the
// lexer: it skips whitespace, '(' and comments (keeping the bodies of
// /*! */ comments) and returns the first word, upper-cased, or "" when the
// text starts with anything else.
func oracleFirstWord(s string) string {
	for {
		s = strings.TrimLeft(s, " \t\n\r\f\v(")
		switch {
		case strings.HasPrefix(s, "/*!"), strings.HasPrefix(s, "/*M!"), strings.HasPrefix(s, "/*m!"):
			s = s[strings.Index(s, "!")+1:]
			for i := 0; i < 6 && len(s) > 0 && s[0] >= '0' && s[0] <= '9'; i++ {
				s = s[1:]
			}
		case strings.HasPrefix(s, "/*"):
			end := strings.Index(s[2:], "*/")
			if end < 0 {
				return ""
			}
			s = s[2+end+2:]
		case strings.HasPrefix(s, "#"), strings.HasPrefix(s, "--") && (len(s) == 2 || s[2] <= ' '):
			end := strings.IndexByte(s, '\n')
			if end < 0 {
				return ""
			}
			s = s[end:]
		default:
			n := 0
			for n < len(s) && (s[n] >= 'a' && s[n] <= 'z' || s[n] >= 'A' && s[n] <= 'Z' || s[n] == '_') {
				n++
			}
			if n == 0 || n < len(s) && (s[n] >= '0' && s[n] <= '9' || s[n] >= 0x80 || s[n] == '$') {
				return ""
			}
			return strings.ToUpper(s[:n])
		}
	}
}

func FuzzClassify(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, sql string) {
		c := Classify([]byte(sql))
		if c2 := Classify([]byte(sql)); c2 != c {
			t.Fatalf("not deterministic: %+v vs %+v", c, c2)
		}
		if w := oracleFirstWord(sql); writeWords[w] && c.Kind == KindRead {
			t.Fatalf("%q starts with %s but classifies as a read", sql, w)
		}
		// A write statement appended after a read keeps the whole off the
		// replicas, unless the read swallowed it (unterminated string or comment).
		multi := sql + ";\nDELETE FROM t"
		if Classify([]byte(multi)).ReplicaSafe() {
			if rest := oracleFirstWord(lastStatementByNextStatement(multi)); rest == "DELETE" {
				t.Fatalf("%q: trailing DELETE classified as replica-safe", multi)
			}
		}
		// NextStatement walks the text in strictly shrinking steps.
		rest := []byte(sql)
		for i := 0; len(rest) > 0; i++ {
			stmt, r := NextStatement(rest)
			if len(r) >= len(rest) && r != nil || i > len(sql)+1 {
				t.Fatalf("NextStatement does not progress on %q", rest)
			}
			_ = stmt
			rest = r
		}
		if c.ReplicaSafe() && c.Hint.Route == RouteAuto && c.Hint.MaxLag == 0 && c.Has(FlagHint) {
			t.Fatalf("%q: FlagHint without a hint", sql)
		}
	})
}

// lastStatementByNextStatement returns the last statement NextStatement
// finds.
func lastStatementByNextStatement(sql string) string {
	rest := []byte(sql)
	var last []byte
	for len(rest) > 0 {
		var stmt []byte
		stmt, rest = NextStatement(rest)
		last = stmt
	}
	return string(last)
}

func FuzzDigest(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, sql string) {
		d := Digest(nil, []byte(sql))
		if again := Digest(nil, d); !bytes.Equal(again, d) {
			t.Fatalf("not idempotent:\n%q\n-> %q\n-> %q", sql, d, again)
		}
		h := fnv.New64a()
		h.Write(d)
		if got := DigestHash([]byte(sql)); got != h.Sum64() {
			t.Fatalf("DigestHash(%q) disagrees with Digest %q", sql, d)
		}
	})
}

// within reports whether b is a sub-slice of s.
func within(b, s []byte) bool {
	if len(b) == 0 {
		return true
	}
	p, lo := uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&s[0]))
	return p >= lo && p+uintptr(len(b)) <= lo+uintptr(len(s))
}

// rebuildSet writes items back as one SET statement.
func rebuildSet(items []SetItem) (string, bool) {
	var parts []string
	for _, it := range items {
		for _, c := range []byte(it.Name) {
			if !isIdentByte(c) && c != '.' && (it.Scope == SetSession || it.Scope == SetGlobal) {
				return "", false
			}
		}
		v := string(it.Value)
		switch it.Scope {
		case SetSession:
			parts = append(parts, "@@session."+it.Name+" = "+v)
		case SetGlobal:
			if it.Name == "transaction" {
				return "SET GLOBAL TRANSACTION " + v, true
			}
			parts = append(parts, "@@global."+it.Name+" = "+v)
		case SetUser:
			parts = append(parts, "@`"+strings.ReplaceAll(it.Name, "`", "``")+"` := "+v)
		case SetNames:
			p := "NAMES " + v
			if it.Collation != nil {
				p += " COLLATE " + string(it.Collation)
			}
			parts = append(parts, p)
		case SetCharacterSet:
			parts = append(parts, "CHARACTER SET "+v)
		case SetTransaction:
			return "SET TRANSACTION " + v, true
		case SetSessionTransaction:
			return "SET SESSION TRANSACTION " + v, true
		}
	}
	return "SET " + strings.Join(parts, ", "), true
}

func FuzzParseSet(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, sql string) {
		in := []byte(sql)
		items, ok := ParseSet(in, nil)
		if !ok {
			if len(items) != 0 {
				t.Fatalf("not ok but %d items", len(items))
			}
			return
		}
		if len(items) == 0 {
			t.Fatalf("%q: ok without items", sql)
		}
		if k := Classify(in).Kind; k != KindSet && k != KindSetTransaction {
			t.Fatalf("%q parses as SET but classifies as %s", sql, k.testName())
		}
		for _, it := range items {
			if it.Name == "" || len(it.Value) == 0 || !within(it.Value, in) || !within(it.Collation, in) {
				t.Fatalf("%q: bad item %+v", sql, it)
			}
		}
		// Replaying the items gives the same items.
		re, ok := rebuildSet(items)
		if !ok {
			return
		}
		again, ok := ParseSet([]byte(re), nil)
		if !ok || fmtItems(again) != fmtItems(items) {
			t.Fatalf("%q -> %q:\n%s\n%s", sql, re, fmtItems(items), fmtItems(again))
		}
	})
}

// FuzzDecide builds a topology and a session from the input and checks
// Decide's invariants: nothing that needs the primary goes elsewhere, a
// chosen replica qualifies, read-your-writes is honoured.
func FuzzDecide(f *testing.F) {
	f.Add("SELECT 1", []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, uint8(0))
	f.Add("UPDATE t SET a = 1", []byte{255, 3, 7, 1, 0, 0, 9, 200}, uint8(3))
	f.Add("/* switchyard: route=replica max_lag=300ms */ SELECT 1", []byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, uint8(5))
	f.Fuzz(func(t *testing.T, sql string, topo []byte, sess uint8) {
		get := func(i int) byte {
			if len(topo) == 0 {
				return 0
			}
			return topo[i%len(topo)]
		}
		snap := &topology.Snapshot{}
		n := 1 + int(get(0))%5
		for i := 0; i < n; i++ {
			b, c := get(1+2*i), get(2+2*i)
			srv := topology.Server{
				Name:        string(rune('a' + i)),
				Role:        topology.Role(b % 5),
				Reachable:   b&8 != 0,
				Admin:       topology.AdminState(b >> 4 % 3),
				Weight:      int(c%4) * 50,
				LagEligible: c&4 != 0,
				LagMs:       int64(c>>3)*100 - 100,
				Datacenter:  []string{"dc1", "dc2"}[c>>7],
			}
			srv.GTID.MariaDB = []gtid.GTID{{Domain: 0, ServerID: 1, Seq: uint64(c % 7)}}
			if srv.Role == topology.RolePrimary && snap.Primary == "" && b&64 != 0 {
				snap.Primary = srv.Name
			}
			snap.Servers = append(snap.Servers, srv)
		}
		r := mustRouterFuzz(t, sess)
		s := &SessionInput{User: []string{"app", "report", "admin"}[int(sess>>2)%3], HasGTID: sess&1 != 0,
			LastGTID: gtid.GTID{Domain: 0, ServerID: 1, Seq: uint64(sess % 9)}}
		in := []byte(sql)
		c := Classify(in)
		d := r.Decide(c, in, s, snap, func(name string) int { return int(name[0]) % 3 })
		if d.Err != nil {
			if d.Server != "" || !errors.Is(d.Err, ErrNoReplica) {
				t.Fatalf("error decision %+v", d)
			}
			return
		}
		if !c.ReplicaSafe() && c.Kind != KindBeginReadOnly {
			if !d.Primary || d.Server != snap.Primary || d.Route != RoutePrimary {
				t.Fatalf("%q needs the primary: %+v (primary %q)", sql, d, snap.Primary)
			}
			return
		}
		if d.Route == RoutePrimary {
			if d.Server != snap.Primary || d.Primary != (snap.Primary == "") {
				t.Fatalf("read to primary: %+v (primary %q)", d, snap.Primary)
			}
			return
		}
		srv := snap.Server(d.Server)
		if srv == nil || !srv.Readable() || srv.Weight <= 0 || srv.LagMs < 0 || d.Primary {
			t.Fatalf("%q: chose unusable %+v: %+v", sql, d, srv)
		}
		if d.Route == RouteReplica && srv.Role != topology.RoleReplica {
			t.Fatalf("%q: replica route to %v server", sql, srv.Role)
		}
		auto := c.Hint.Route == RouteAuto && r.userRoute[s.User] == RouteAuto
		if auto && s.HasGTID && !d.WaitGTID && !srv.GTID.CoversGTID(s.LastGTID) {
			t.Fatalf("read-your-writes broken: %+v on %v for %v", d, srv.GTID, s.LastGTID)
		}
		if d.WaitGTID && (!s.HasGTID || srv.GTID.CoversGTID(s.LastGTID)) {
			t.Fatalf("needless wait: %+v", d)
		}
	})
}

func mustRouterFuzz(t *testing.T, mode uint8) *Router {
	cfg := testConfig(nil)
	if mode&2 != 0 {
		cfg.Routing.Fallback = "error"
	}
	if mode&32 != 0 {
		cfg.Datacenter = "dc2"
	}
	r, err := NewRouter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
