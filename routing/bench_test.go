//go:build unix

package routing

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
)

var benchStatements = []struct{ name, sql string }{
	{"PointSelect", "SELECT c FROM sbtest1 WHERE id = 4217"},
	{"PointSelectComment", "/* app:checkout */ SELECT c, pad FROM sbtest1 WHERE id = ?"},
	{"RangeSelect", "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 100 AND 199 ORDER BY c"},
	{"Update", "UPDATE sbtest1 SET k = k + 1 WHERE id = 4217"},
	{"Insert", "INSERT INTO sbtest1 (id, k, c, pad) VALUES (0, 4950, '83868641912-28773972837-60736120486', '67847967377-48000963322')"},
	{"Begin", "BEGIN"},
	{"CTE", "WITH recent AS (SELECT id FROM orders WHERE created_at > NOW() - INTERVAL 1 DAY) SELECT COUNT(*) FROM recent"},
	{"Join", "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.status = 'open' AND c.region IN (1, 2, 3) LIMIT 50"},
	{"Escaped", "SELECT * FROM users WHERE name = 'O\\'Brien'"},
	{"Set", "SET autocommit = 0"},
}

// cpuTime is the process's CPU time. The build machine is shared, so
// wall-clock ns/op swings with other load; the benchmarks also report
// cpu-ns/op, the CPU time this process spent per operation.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loop runs f b.N times and reports CPU time per call.
func loop(b *testing.B, f func()) {
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for i := 0; i < b.N; i++ {
		f()
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func BenchmarkClassify(b *testing.B) {
	for _, s := range benchStatements {
		sql := []byte(s.sql)
		b.Run(s.name, func(b *testing.B) { loop(b, func() { Classify(sql) }) })
	}
}

// A bulk INSERT with a 1 MiB string literal: the lexer skips literals with
// bytes.IndexByte.
func BenchmarkClassifyBigLiteral(b *testing.B) {
	sql := []byte("INSERT INTO blobs (id, data) VALUES (1, '" + strings.Repeat("abcdefgh", 1<<17) + "')")
	b.SetBytes(int64(len(sql)))
	loop(b, func() { Classify(sql) })
}

func BenchmarkDigestHash(b *testing.B) {
	for _, s := range benchStatements {
		sql := []byte(s.sql)
		b.Run(s.name, func(b *testing.B) { loop(b, func() { DigestHash(sql) }) })
	}
}

func BenchmarkDigest(b *testing.B) {
	sql := []byte(benchStatements[7].sql)
	buf := make([]byte, 0, 256)
	loop(b, func() { buf = Digest(buf[:0], sql) })
}

func BenchmarkParseSet(b *testing.B) {
	sql := []byte("SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci, autocommit = 1, sql_mode = 'STRICT_TRANS_TABLES'")
	dst := make([]SetItem, 0, 4)
	loop(b, func() { dst, _ = ParseSet(sql, dst[:0]) })
}

func BenchmarkDecide(b *testing.B) {
	r, err := NewRouter(testConfig(func(c *config.Config) { c.Datacenter = "dc1" }))
	if err != nil {
		b.Fatal(err)
	}
	snap := cluster(nil)
	load := func(string) int { return 0 }
	for _, s := range []struct {
		name string
		sql  string
		sess SessionInput
	}{
		{"Read", "SELECT c FROM sbtest1 WHERE id = 1", SessionInput{User: "app"}},
		{"ReadRYW", "SELECT c FROM sbtest1 WHERE id = 1", SessionInput{User: "app", HasGTID: true, LastGTID: gtidOf("0-1-100")}},
		{"Write", "UPDATE sbtest1 SET k = 1 WHERE id = 1", SessionInput{User: "app"}},
	} {
		sql := []byte(s.sql)
		c := Classify(sql)
		b.Run(s.name, func(b *testing.B) { loop(b, func() { r.Decide(c, sql, &s.sess, snap, load) }) })
	}
}
