package routing

import (
	"bufio"
	"os"
	"strings"
	"testing"
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
