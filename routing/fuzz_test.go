package routing

import (
	"bytes"
	"hash/fnv"
	"strings"
	"testing"
	"unsafe"
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
