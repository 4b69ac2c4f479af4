package routing

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"
)

var kindNames = map[string]Kind{
	"write": KindWrite, "read": KindRead, "begin": KindBegin, "begin_ro": KindBeginReadOnly,
	"commit": KindCommit, "rollback": KindRollback, "savepoint": KindSavepoint, "set": KindSet,
	"set_tx": KindSetTransaction, "use": KindUse, "lock_tables": KindLockTables,
	"unlock_tables": KindUnlockTables, "xa": KindXA, "prepare": KindPrepare, "execute": KindExecute,
	"deallocate": KindDeallocate, "call": KindCall,
}

var flagNames = map[string]Flags{
	"locking": FlagLockingRead, "implicit": FlagImplicitCommit, "temp": FlagTempTable,
	"userlock": FlagUserLock, "sessdep": FlagSessionDependent, "assign": FlagUserVarAssign,
	"varread": FlagUserVarRead, "multi": FlagMultiStatement, "side": FlagSideEffect, "hint": FlagHint,
	"server": FlagServerSpecific, "state": FlagSessionState,
}

func (k Kind) testName() string {
	for n, v := range kindNames {
		if v == k {
			return n
		}
	}
	return "?"
}

func (f Flags) testNames() string {
	var out []string
	for n, v := range flagNames {
		if f&v != 0 {
			out = append(out, n)
		}
	}
	return strings.Join(out, " ")
}

type stmtCase struct {
	line  int
	sql   string
	kind  Kind
	flags Flags
}

// loadStatements reads testdata/statements.txt.
func loadStatements(t testing.TB) []stmtCase {
	f, err := os.Open("testdata/statements.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []stmtCase
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		spec, sql, ok := strings.Cut(line, "|")
		if !ok {
			t.Fatalf("statements.txt:%d: no '|'", n)
		}
		sql = strings.TrimPrefix(sql, " ")
		sql = strings.NewReplacer(`\n`, "\n", `\t`, "\t").Replace(sql)
		c := stmtCase{line: n, sql: sql}
		words := strings.Fields(spec)
		k, ok := kindNames[words[0]]
		if !ok {
			t.Fatalf("statements.txt:%d: unknown kind %q", n, words[0])
		}
		c.kind = k
		for _, w := range words[1:] {
			fl, ok := flagNames[w]
			if !ok {
				t.Fatalf("statements.txt:%d: unknown flag %q", n, w)
			}
			c.flags |= fl
		}
		out = append(out, c)
	}
	return out
}

func TestClassifyTable(t *testing.T) {
	cases := loadStatements(t)
	if len(cases) < 300 {
		t.Fatalf("only %d statements", len(cases))
	}
	for _, c := range cases {
		got := Classify([]byte(c.sql))
		if got.Kind != c.kind || got.Flags != c.flags {
			t.Errorf("statements.txt:%d %q:\n got %s [%s]\nwant %s [%s]", c.line, c.sql,
				got.Kind.testName(), got.Flags.testNames(), c.kind.testName(), c.flags.testNames())
		}
	}
}

// Classify and DigestHash allocate nothing, for every statement of the table.
func TestClassifyAllocs(t *testing.T) {
	for _, c := range loadStatements(t) {
		sql := []byte(c.sql)
		if n := testing.AllocsPerRun(5, func() { Classify(sql) }); n != 0 {
			t.Errorf("Classify(%q) allocates %v times", c.sql, n)
		}
		if n := testing.AllocsPerRun(5, func() { DigestHash(sql) }); n != 0 {
			t.Errorf("DigestHash(%q) allocates %v times", c.sql, n)
		}
	}
}

func TestNextStatement(t *testing.T) {
	cases := []struct {
		sql  string
		want []string
	}{
		{"SELECT 1", []string{"SELECT 1"}},
		{"SELECT 1; SELECT 2", []string{"SELECT 1", " SELECT 2"}},
		{"SELECT ';'; SET @a = 1;", []string{"SELECT ';'", " SET @a = 1"}},
		{"SELECT 1 /* ; */; -- ;\nSELECT 2", []string{"SELECT 1 /* ; */", " -- ;\nSELECT 2"}},
		{"CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END; CALL p()", []string{"CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END; CALL p()"}},
		{"SELECT 'x", []string{"SELECT 'x"}},
	}
	for _, c := range cases {
		var got []string
		for rest := []byte(c.sql); len(rest) > 0; {
			var stmt []byte
			stmt, rest = NextStatement(rest)
			got = append(got, string(stmt))
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("NextStatement(%q) = %q, want %q", c.sql, got, c.want)
		}
	}
}

func TestHint(t *testing.T) {
	cases := []struct {
		sql   string
		route Route
		lag   time.Duration
		ok    bool
	}{
		{"/* switchyard: route=primary */ SELECT 1", RoutePrimary, 0, true},
		{"/* Switchyard : Route=Replica */ SELECT 1", RouteReplica, 0, true},
		{"/* switchyard: max_lag=500ms */ SELECT 1", RouteAuto, 500 * time.Millisecond, true},
		{"/* switchyard: max_lag=1.5s route=replica */ SELECT 1", RouteReplica, 1500 * time.Millisecond, true},
		{"/* switchyard: max_lag=250 */ SELECT 1", RouteAuto, 250 * time.Millisecond, true},
		{"/* switchyard: max_lag=2m */ SELECT 1", RouteAuto, 2 * time.Minute, true},
		{"/* switchyard: max_lag=750us */ SELECT 1", RouteAuto, 750 * time.Microsecond, true},
		{"SELECT 1 # switchyard: route=primary", RoutePrimary, 0, true},
		{"/* switchyard: route=primary */ /* switchyard: route=replica */ SELECT 1", RoutePrimary, 0, true},
		{"/* switchyard: route=replica max_lag=1x */ SELECT 1", RouteAuto, 0, false},
		{"/* switchyard: max_lag=ms */ SELECT 1", RouteAuto, 0, false},
		{"/* switchyard: max_lag=99999999999999s */ SELECT 1", RouteAuto, 0, false},
		{"/* switchyard: */ SELECT 1", RouteAuto, 0, false},
		{"/* switchyard:route */ SELECT 1", RouteAuto, 0, false},
		{"/* switchyardx: route=primary */ SELECT 1", RouteAuto, 0, false},
		{"/*! switchyard: route=primary */ SELECT 1", RouteAuto, 0, false}, // code, not a comment
	}
	for _, c := range cases {
		got := Classify([]byte(c.sql))
		if got.Has(FlagHint) != c.ok || got.Hint.Route != c.route || got.Hint.MaxLag != c.lag {
			t.Errorf("Classify(%q): hint %v %+v, want %v %v %v", c.sql, got.Has(FlagHint), got.Hint, c.ok, c.route, c.lag)
		}
	}
}
