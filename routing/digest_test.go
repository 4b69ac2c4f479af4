package routing

import (
	"hash/fnv"
	"testing"
)

func TestDigest(t *testing.T) {
	cases := []struct{ sql, want string }{
		{"SELECT * FROM t WHERE id = 5", "SELECT * FROM t WHERE id = ?"},
		{"select  *\n\tfrom t where id=5", "SELECT * FROM t WHERE id = ?"},
		{"SELECT * FROM t WHERE name = 'x' AND b = \"y\"", "SELECT * FROM t WHERE name = ? AND b = ?"},
		{"SELECT * FROM t WHERE id IN (1, 2, 3)", "SELECT * FROM t WHERE id IN (...)"},
		{"SELECT * FROM t WHERE id in(1,2,3)", "SELECT * FROM t WHERE id IN (...)"},
		{"SELECT * FROM t WHERE id IN ('a')", "SELECT * FROM t WHERE id IN (...)"},
		{"SELECT * FROM t WHERE id IN (?, ?, ?)", "SELECT * FROM t WHERE id IN (...)"},
		{"SELECT * FROM t WHERE id IN (-1, +2)", "SELECT * FROM t WHERE id IN (...)"},
		{"SELECT * FROM t WHERE id NOT IN (1,2)", "SELECT * FROM t WHERE id NOT IN (...)"},
		{"SELECT * FROM t WHERE id IN (a, 1)", "SELECT * FROM t WHERE id IN (a, ?)"},
		{"SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE x = 1)", "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE x = ?)"},
		{"SELECT * FROM t WHERE id IN (NULL, 1)", "SELECT * FROM t WHERE id IN (NULL, ?)"},
		{"SELECT * FROM t WHERE (a, b) IN ((1, 2), (3, 4))", "SELECT * FROM t WHERE (a, b) IN ((?, ?), (?, ?))"},
		{"INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')", "INSERT INTO t(a, b) VALUES (?, ?)"},
		{"INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (?)"},
		{"insert into t values(1),(2) on duplicate key update a=values(a), b = 2", "INSERT INTO t VALUES (?) ON DUPLICATE KEY UPDATE a = VALUES (a), b = ?"},
		{"INSERT INTO t VALUE (1), (NOW())", "INSERT INTO t VALUE (?)"},
		{"INSERT INTO t VALUES ((1), f(2, 3)), (4, 5)", "INSERT INTO t VALUES ((?), f(?, ?))"},
		{"VALUES (1, 2), (3, 4)", "VALUES (?, ?)"},
		{"SELECT 1; INSERT INTO t VALUES (1), (2); SELECT 2", "SELECT ?; INSERT INTO t VALUES (?); SELECT ?"},
		{"SELECT /* comment */ 1 -- tail", "SELECT ?"},
		{"/* switchyard: route=replica */ SELECT a FROM t # x", "SELECT a FROM t"},
		{"/*!40101 SET NAMES utf8 */", "SET NAMES utf8"},
		{"SELECT count(*), Sum(a), max(b) FROM t", "SELECT COUNT(*), SUM(a), MAX(b) FROM t"},
		{"SELECT my_func(1) FROM t", "SELECT my_func(?) FROM t"},
		{"SELECT `Col`, MyCol FROM `Db`.`T`", "SELECT `Col`, MyCol FROM `Db`.`T`"},
		{"SELECT a.b, c . d FROM t", "SELECT a.b, c.d FROM t"},
		{"SELECT -1, - 2, 3 - 4, a-5, (-6), f(-7)", "SELECT ?, ?, ? - ?, a - ?, (?), f(?)"},
		{"SELECT a - -1", "SELECT a - ?"},
		{"SELECT 1--1", "SELECT ? - ?"},
		{"SELECT x'1F', 0x1F, b'1', 1.5e3, .5, N'x', NULL, TRUE", "SELECT ?, ?, ?, ?, ?, ?, NULL, TRUE"},
		{"SELECT @x, @@SESSION.Sql_Mode, @@global.x", "SELECT @x, @@session.sql_mode, @@global.x"},
		{"SELECT * FROM t WHERE a = ? LIMIT 10", "SELECT * FROM t WHERE a = ? LIMIT ?"},
		{"SELECT * FROM t WHERE a <=> 1 AND b != 2 AND c := 3", "SELECT * FROM t WHERE a <=> ? AND b != ? AND c := ?"},
		{"CALL p(1, 'a')", "CALL p(?, ?)"},
		{"SELECT 'unterminated", "SELECT ?"},
		{"SELECT 1 /* unterminated", "SELECT ?"},
		{"", ""},
		{"   ", ""},
		{"SELECT (...)", "SELECT (...)"},
		{". 0A", ".0A"},
		{"@ .!", "@.!"},
		{"@0 .!", "@0 .!"},
		{". 0.A", ".? A"},
		{"SELECT 1.5abc, 1e5x, 12ab", "SELECT ? abc, ? x, 12ab"},
		{"SELECT @a.b, @a .b, @@x .y", "SELECT @a.b, @a .b, @@x .y"},
		{"SELECT t. 1abc, .5, x .5e3", "SELECT t.1abc, ?, x ?"},
		{"SELECT * FROM t WHERE id IN (...)", "SELECT * FROM t WHERE id IN (...)"},
	}
	for _, c := range cases {
		got := string(Digest(nil, []byte(c.sql)))
		if got != c.want {
			t.Errorf("Digest(%q)\n got %q\nwant %q", c.sql, got, c.want)
		}
		if again := string(Digest(nil, []byte(got))); again != got {
			t.Errorf("Digest not idempotent: %q -> %q", got, again)
		}
		checkDigestHash(t, []byte(c.sql))
	}
	// Digest appends.
	if got := string(Digest([]byte("x:"), []byte("SELECT 1"))); got != "x:SELECT ?" {
		t.Errorf("Digest append = %q", got)
	}
}

func checkDigestHash(t *testing.T, sql []byte) {
	t.Helper()
	h := fnv.New64a()
	h.Write(Digest(nil, sql))
	if got, want := DigestHash(sql), h.Sum64(); got != want {
		t.Errorf("DigestHash(%q) = %x, want FNV-1a of the digest %x", sql, got, want)
	}
}

// Digests agree for statements that differ only in literals, spacing,
// comments and keyword case; and differ when the structure differs.
func TestDigestEquivalence(t *testing.T) {
	same := [][2]string{
		{"SELECT * FROM t WHERE id = 1", "select *   from t where id = 99 /* x */"},
		{"SELECT * FROM t WHERE id IN (1)", "SELECT * FROM t WHERE id IN (1, 2, 3, 4)"},
		{"INSERT INTO t VALUES (1, 2)", "INSERT INTO t VALUES (3, 4), (5, 6)"},
		{"SELECT * FROM t WHERE a = 'x'", "SELECT * FROM t WHERE a = ?"},
	}
	for _, p := range same {
		if DigestHash([]byte(p[0])) != DigestHash([]byte(p[1])) {
			t.Errorf("digests differ: %q / %q", Digest(nil, []byte(p[0])), Digest(nil, []byte(p[1])))
		}
	}
	differ := [][2]string{
		{"SELECT * FROM t WHERE id = 1", "SELECT * FROM u WHERE id = 1"},
		{"SELECT * FROM T", "SELECT * FROM t"},
		{"SELECT a FROM t", "SELECT b FROM t"},
	}
	for _, p := range differ {
		if DigestHash([]byte(p[0])) == DigestHash([]byte(p[1])) {
			t.Errorf("digests equal: %q / %q", p[0], p[1])
		}
	}
}

// Every statement of the classifier table digests idempotently, and the
// hash agrees with the text.
func TestDigestStatementsTable(t *testing.T) {
	for _, c := range loadStatements(t) {
		d := Digest(nil, []byte(c.sql))
		if again := Digest(nil, d); string(again) != string(d) {
			t.Errorf("statements.txt:%d: Digest not idempotent: %q -> %q", c.line, d, again)
		}
		checkDigestHash(t, []byte(c.sql))
	}
}
