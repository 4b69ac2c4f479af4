package routing

// SetScope is what a SET item changes.
type SetScope uint8

const (
	SetSession            SetScope = iota // a session system variable: SET x=, SET SESSION x=, @@x, @@session.x, @@local.x
	SetGlobal                             // SET GLOBAL/PERSIST x=, @@global.x: server-wide, forwarded to the primary, not session state
	SetUser                               // a user variable: SET @x = ... / @x := ...
	SetNames                              // SET NAMES charset [COLLATE collation]
	SetCharacterSet                       // SET CHARACTER SET charset / SET CHARSET charset
	SetTransaction                        // SET TRANSACTION ...: the next transaction only
	SetSessionTransaction                 // SET SESSION TRANSACTION ...: every later transaction of the session
)

func (s SetScope) String() string {
	switch s {
	case SetGlobal:
		return "global"
	case SetUser:
		return "user"
	case SetNames:
		return "names"
	case SetCharacterSet:
		return "character set"
	case SetTransaction:
		return "transaction"
	case SetSessionTransaction:
		return "session transaction"
	}
	return "session"
}

// SetItem is one assignment of a SET statement.
//
// Name is lower case: the system variable without @@ and scope prefix, the
// user variable without @ and quotes, or "names", "character set",
// "transaction" for the special forms. Name is a string because callers keep
// it as a map key; names of well-known system variables are interned, so only
// user variables and unusual system variables cost an allocation.
//
// Value is the raw text of the assigned expression, a sub-slice of the input
// (quotes included, so it can be replayed verbatim): the charset for NAMES and
// CHARACTER SET, the characteristics ("ISOLATION LEVEL READ COMMITTED, READ
// ONLY") for TRANSACTION.
type SetItem struct {
	Scope     SetScope
	Name      string
	Value     []byte
	Collation []byte // SET NAMES x COLLATE y: the raw y; nil otherwise
	// Literal: Value is a single constant (number, string, NULL, TRUE, FALSE;
	// for system variables also a bare word such as ON or an enum value, but
	// not DEFAULT), so it can be replayed without re-evaluation.
	Literal bool
}

// Bool interprets Value as a boolean system variable value (autocommit = 1,
// ON, TRUE, 'ON', ...).
func (it SetItem) Bool() (v, ok bool) {
	b := it.Value
	if len(b) >= 2 && (b[0] == '\'' || b[0] == '"') && b[len(b)-1] == b[0] {
		b = b[1 : len(b)-1]
	}
	switch {
	case eqFold(b, "1"), eqFold(b, "on"), eqFold(b, "true"):
		return true, true
	case eqFold(b, "0"), eqFold(b, "off"), eqFold(b, "false"):
		return false, true
	}
	return false, false
}

// ParseSet splits a SET statement into its assignments, appending them to dst.
// It handles SET [GLOBAL|SESSION|LOCAL|PERSIST] a = expr, @@[scope.]b = expr,
// @u := expr, NAMES, CHARACTER SET, [SESSION|GLOBAL] TRANSACTION and comma
// lists with nested parentheses and strings. A scope keyword applies to the
// items after it until the next one, as in MySQL. ok is false (and dst is
// returned unchanged) when the statement is not a SET it understands (SET
// STATEMENT ... FOR, SET PASSWORD, SET ROLE, multi-statements, syntax errors):
// then the caller replays it verbatim.
func ParseSet(sql []byte, dst []SetItem) ([]SetItem, bool) {
	orig := dst
	p := setParser{l: lexer{sql: sql}}
	if t := p.l.next(); t.kind != tWord || lookupKeyword(sql[t.start:t.end]).id != kwSet {
		return orig, false
	}
	scope := SetSession
	t := p.l.next()
	for {
		explicit := false
		for {
			sc, ok := scopeKeyword(p.kw(t))
			if !ok {
				break
			}
			scope, explicit = sc, true
			t = p.l.next()
		}
		switch p.kw(t) {
		case kwTransaction:
			// only as the whole statement: its characteristics contain commas
			if len(dst) != len(orig) {
				return orig, false
			}
			ts := SetTransaction
			if explicit {
				ts = SetSessionTransaction
				if scope == SetGlobal {
					ts = SetGlobal
				}
			}
			v, ok := p.rest(p.l.next())
			if !ok {
				return orig, false
			}
			return append(dst, SetItem{Scope: ts, Name: "transaction", Value: v}), true
		case kwStatement, kwPassword, kwRole, kwDefault:
			return orig, false
		}
		it, end, ok := p.item(t, scope)
		if !ok {
			return orig, false
		}
		dst = append(dst, it)
		if end.kind == tEOF {
			return dst, true
		}
		t = p.l.next() // after ','
	}
}

// scopeKeyword maps GLOBAL, SESSION, LOCAL, PERSIST, PERSIST_ONLY to a scope.
func scopeKeyword(kw kwID) (SetScope, bool) {
	switch kw {
	case kwGlobal, kwPersist, kwPersistOnly:
		return SetGlobal, true
	case kwSession, kwLocal:
		return SetSession, true
	}
	return 0, false
}

type setParser struct{ l lexer }

func (p *setParser) kw(t token) kwID {
	if t.kind != tWord {
		return kwNone
	}
	return lookupKeyword(p.l.sql[t.start:t.end]).id
}

func (p *setParser) punct(t token, s string) bool {
	return t.kind == tPunct && string(p.l.sql[t.start:t.end]) == s
}

// item parses one assignment starting at t; end is the ',' or EOF after it.
func (p *setParser) item(t token, scope SetScope) (it SetItem, end token, ok bool) {
	sql := p.l.sql
	switch {
	case p.kw(t) == kwNames:
		v, end, ok := p.expr(p.l.next(), true)
		if !ok {
			return it, end, false
		}
		it = SetItem{Scope: SetNames, Name: "names", Value: v, Literal: true}
		if p.kw(end) == kwCollate {
			it.Collation, end, ok = p.expr(p.l.next(), false)
		}
		return it, end, ok && (end.kind == tEOF || p.punct(end, ","))
	case p.kw(t) == kwCharset || p.kw(t) == kwCharacter:
		if p.kw(t) == kwCharacter {
			if t = p.l.next(); p.kw(t) != kwSet {
				return it, t, false
			}
		}
		v, end, ok := p.expr(p.l.next(), false)
		return SetItem{Scope: SetCharacterSet, Name: "character set", Value: v, Literal: true}, end, ok
	case t.kind == tVar:
		it = SetItem{Scope: SetUser, Name: varName(sql[t.start+1 : t.end])}
	case t.kind == tSysVar:
		name := sql[t.start+2 : t.end]
		it.Scope = SetSession
		for _, pre := range [...]struct {
			s     string
			scope SetScope
		}{{"global.", SetGlobal}, {"session.", SetSession}, {"local.", SetSession}, {"persist.", SetGlobal}, {"persist_only.", SetGlobal}} {
			if len(name) > len(pre.s) && eqFold(name[:len(pre.s)], pre.s) {
				name, it.Scope = name[len(pre.s):], pre.scope
				break
			}
		}
		it.Name = varName(name)
	case t.kind == tWord || t.kind == tQuoted:
		start, stop := t.start, t.end
		if t.kind == tQuoted {
			start, stop = start+1, stop-1
		}
		// structured variables: SET default.key_buffer_size = ...
		if nt := p.l.next(); p.punct(nt, ".") {
			w := p.l.next()
			if w.kind != tWord {
				return it, w, false
			}
			stop = w.end
		} else {
			p.l.pos = nt.start
		}
		it = SetItem{Scope: scope, Name: varName(sql[start:stop])}
	default:
		return it, t, false
	}
	if op := p.l.next(); !p.punct(op, "=") && !p.punct(op, ":=") {
		return it, op, false
	}
	it.Value, end, ok = p.expr(p.l.next(), false)
	if !ok {
		return it, end, false
	}
	it.Literal = p.literal(it.Value, it.Scope != SetUser)
	return it, end, true
}

// expr reads an expression starting at t up to a ',' at nesting depth 0 or
// the end; with stopCollate also up to COLLATE. It returns the raw text and
// the token that ended it.
func (p *setParser) expr(t token, stopCollate bool) (v []byte, end token, ok bool) {
	start, stop := t.start, t.start
	depth := 0
	for {
		t = p.trailingSemicolon(t)
		switch {
		case t.kind == tEOF:
			return p.l.sql[start:stop], t, depth == 0 && stop > start
		case t.kind == tError || p.punct(t, ";"):
			return nil, t, false
		case p.punct(t, "("):
			depth++
		case p.punct(t, ")"):
			if depth--; depth < 0 {
				return nil, t, false
			}
		case depth == 0 && (p.punct(t, ",") || stopCollate && p.kw(t) == kwCollate):
			return p.l.sql[start:stop], t, stop > start
		}
		stop = t.end
		t = p.l.next()
	}
}

// trailingSemicolon turns a final ';' (followed only by spaces and
// comments) into the end of the statement; another statement after it stays
// an error for the callers.
func (p *setParser) trailingSemicolon(t token) token {
	if p.punct(t, ";") {
		if nx := p.l; nx.next().kind == tEOF {
			p.l = nx
			return token{kind: tEOF, start: t.start, end: t.start}
		}
	}
	return t
}

// rest returns the text from t to the end of the statement.
func (p *setParser) rest(t token) ([]byte, bool) {
	start, stop := t.start, t.start
	for ; ; t = p.l.next() {
		if t = p.trailingSemicolon(t); t.kind == tEOF {
			break
		}
		if t.kind == tError || p.punct(t, ";") {
			return nil, false
		}
		stop = t.end
	}
	return p.l.sql[start:stop], stop > start
}

// literal reports whether v is one constant token, optionally signed.
func (p *setParser) literal(v []byte, system bool) bool {
	l := lexer{sql: v}
	t := l.next()
	if t.kind == tPunct && (v[t.start] == '-' || v[t.start] == '+') && t.end-t.start == 1 {
		if t = l.next(); t.kind != tNumber {
			return false
		}
	}
	if l.next().kind != tEOF {
		return false
	}
	switch t.kind {
	case tNumber, tString:
		return true
	case tWord:
		switch lookupKeyword(v[t.start:t.end]).id {
		case kwNull, kwTrue, kwFalse:
			return true
		case kwDefault:
			return false
		}
		return system
	}
	return false
}

// varName lower-cases a variable name, strips quotes and interns well-known
// names.
func varName(b []byte) string {
	if len(b) >= 2 && (b[0] == '\'' || b[0] == '"' || b[0] == '`') && b[len(b)-1] == b[0] {
		b = b[1 : len(b)-1]
	}
	var buf [64]byte
	if len(b) > len(buf) {
		lb := make([]byte, len(b))
		for i, c := range b {
			lb[i] = lower(c)
		}
		return string(lb)
	}
	for i, c := range b {
		buf[i] = lower(c)
	}
	if s, ok := knownVars[string(buf[:len(b)])]; ok {
		return s
	}
	return string(buf[:len(b)])
}

// knownVars interns the system variables applications commonly set.
var knownVars = func() map[string]string {
	m := map[string]string{}
	for _, v := range []string{
		"autocommit", "big_tables", "binlog_format", "block_encryption_mode", "character_set_client",
		"character_set_connection", "character_set_database", "character_set_results", "character_set_server",
		"check_constraint_checks", "collation_connection", "collation_database", "collation_server",
		"completion_type", "cte_max_recursion_depth", "default_storage_engine", "default_tmp_storage_engine",
		"div_precision_increment", "enforce_storage_engine", "explicit_defaults_for_timestamp",
		"foreign_key_checks", "group_concat_max_len", "gtid_domain_id", "gtid_seq_no", "identity",
		"in_predicate_conversion_threshold", "innodb_lock_wait_timeout", "insert_id", "interactive_timeout",
		"join_buffer_size", "last_insert_id", "lc_messages", "lc_time_names", "lock_wait_timeout",
		"long_query_time", "max_allowed_packet", "max_execution_time", "max_heap_table_size", "max_join_size",
		"max_recursive_iterations", "max_sort_length", "max_statement_time", "names", "net_buffer_length",
		"net_read_timeout", "net_write_timeout", "optimizer_switch", "optimizer_search_depth", "profiling",
		"query_cache_type", "rand_seed1", "rand_seed2", "read_buffer_size", "read_rnd_buffer_size",
		"server_id", "session_track_gtids", "session_track_schema", "session_track_state_change",
		"session_track_system_variables", "session_track_transaction_info", "skip_replication",
		"sort_buffer_size", "sql_auto_is_null", "sql_big_selects", "sql_buffer_result", "sql_log_bin",
		"sql_log_off", "sql_mode", "sql_notes", "sql_quote_show_create", "sql_safe_updates",
		"sql_select_limit", "sql_warnings", "storage_engine", "time_zone", "timestamp", "tmp_table_size",
		"transaction_isolation", "transaction_read_only", "tx_isolation", "tx_read_only", "unique_checks",
		"wait_timeout",
	} {
		m[v] = v
	}
	return m
}()

// ParseUse returns the database of a USE statement, unquoted.
func ParseUse(sql []byte) (db string, ok bool) {
	l := lexer{sql: sql}
	if t := l.next(); t.kind != tWord || lookupKeyword(sql[t.start:t.end]).id != kwUse {
		return "", false
	}
	t := l.next()
	switch t.kind {
	case tWord:
		db = string(sql[t.start:t.end])
	case tQuoted:
		db = unquoteIdent(sql[t.start+1 : t.end-1])
	default:
		return "", false
	}
	if end := l.next(); end.kind == tPunct && sql[end.start] == ';' && end.end-end.start == 1 {
		t = l.next()
		if t.kind != tEOF {
			return "", false
		}
	} else if end.kind != tEOF {
		return "", false
	}
	return db, db != ""
}

// unquoteIdent undoes the “ doubling inside a backtick identifier.
func unquoteIdent(b []byte) string {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		out = append(out, b[i])
		if b[i] == '`' && i+1 < len(b) && b[i+1] == '`' {
			i++
		}
	}
	return string(out)
}
