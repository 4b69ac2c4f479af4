package digest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/routing"
)

func record(s *Store, sql, route string, d time.Duration, rows int64, failed bool) {
	b := []byte(sql)
	s.Record(routing.DigestHash(b), b, route, d, rows, failed)
}

func TestRecordAggregatesByDigest(t *testing.T) {
	s := New(Options{})
	record(s, "SELECT * FROM t WHERE id = 1", "replica", 2*time.Millisecond, 1, false)
	record(s, "select *  from t where id = 42", "replica", 5*time.Millisecond, 1, false)
	record(s, "SELECT * FROM t WHERE id = 'x'", "primary", 1*time.Millisecond, 0, true)

	snap := s.Snapshot()
	if len(snap) != 1 {
		t.Fatalf("want 1 digest for three literals of one shape, got %d: %+v", len(snap), snap)
	}
	e := snap[0]
	if e.Count != 3 || e.Total != 8*time.Millisecond || e.Max != 5*time.Millisecond || e.Rows != 2 || e.Errors != 1 {
		t.Errorf("counters: %+v", e)
	}
	if e.Avg() != 8*time.Millisecond/3 {
		t.Errorf("avg = %v", e.Avg())
	}
	if e.Route != "primary,replica" {
		t.Errorf("route = %q, want primary,replica", e.Route)
	}
	if strings.Contains(e.Text, "1") || !strings.Contains(e.Text, "?") {
		t.Errorf("text not normalised: %q", e.Text)
	}
	if e.FirstSeen.IsZero() || e.LastSeen.Before(e.FirstSeen) {
		t.Errorf("first/last seen: %v %v", e.FirstSeen, e.LastSeen)
	}
}

func TestSnapshotOrderedByTotalTime(t *testing.T) {
	s := New(Options{})
	record(s, "SELECT a FROM t1", "replica", 1*time.Millisecond, 0, false)
	for range 3 {
		record(s, "SELECT b FROM t2", "replica", 2*time.Millisecond, 0, false) // 6ms
	}
	record(s, "UPDATE t3 SET c = 1", "primary", 4*time.Millisecond, 1, false)

	var got []time.Duration
	for _, e := range s.Snapshot() {
		got = append(got, e.Total)
	}
	want := []time.Duration{6 * time.Millisecond, 4 * time.Millisecond, 1 * time.Millisecond}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("totals in order %v, want %v", got, want)
	}
}

func TestEvictionKeepsStoreBoundedAndHeavyHitters(t *testing.T) {
	const limit = 1000
	s := New(Options{MaxEntries: limit})
	heavy := []byte("SELECT * FROM orders WHERE customer_id = 7")
	heavyHash := routing.DigestHash(heavy)
	s.Record(heavyHash, heavy, "replica", time.Second, 1, false)

	n := 1_000_000
	if testing.Short() || raceEnabled {
		n = 100_000
	}
	sql := []byte("SELECT x FROM one_off")
	for i := range n {
		// Distinct hashes stand for distinct statements; the store trusts
		// the caller's hash, so the text can stay the same.
		s.Record(uint64(i)+1<<40, sql, "replica", time.Microsecond, 0, false)
		if i%1000 == 0 {
			s.Record(heavyHash, heavy, "replica", time.Millisecond, 1, false)
		}
		if i%1000 == 0 && s.Len() > limit {
			t.Fatalf("after %d inserts the store holds %d > %d", i, s.Len(), limit)
		}
	}
	if s.Len() > limit {
		t.Fatalf("the store holds %d > %d", s.Len(), limit)
	}
	if s.Evicted() == 0 {
		t.Fatal("nothing was evicted")
	}
	top := s.Snapshot()[0]
	if top.Hash != heavyHash || top.Count < 2 {
		t.Fatalf("heavy hitter lost or reset: top is %+v", top)
	}
}

func TestLongStatementTextIsCut(t *testing.T) {
	s := New(Options{MaxTextLen: 64})
	long := "SELECT " + strings.Repeat("column_name_x, ", 10000) + "y FROM t"
	record(s, long, "replica", time.Millisecond, 0, false)
	text := s.Snapshot()[0].Text
	if len(text) != 64+len("...") || !strings.HasSuffix(text, "...") || !strings.HasPrefix(text, "SELECT") {
		t.Fatalf("text %q (len %d): want 64 bytes of digest plus ...", text, len(text))
	}
}

func TestRecordExistingDoesNotAllocate(t *testing.T) {
	s := New(Options{})
	sql := []byte("SELECT c FROM sbtest1 WHERE id = 17")
	h := routing.DigestHash(sql)
	s.Record(h, sql, "replica", time.Millisecond, 1, false)
	allocs := testing.AllocsPerRun(1000, func() {
		s.Record(h, sql, "replica", 250*time.Microsecond, 1, false)
	})
	if allocs != 0 {
		t.Fatalf("Record of a known digest allocates %.1f times", allocs)
	}
}

func TestConcurrentRecordAndSnapshot(t *testing.T) {
	s := New(Options{MaxEntries: 64})
	var wg sync.WaitGroup
	const workers, per = 4, 2000
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				sql := []byte(fmt.Sprintf("SELECT %d FROM t%d", i, i%100))
				s.Record(uint64(i%100), sql, []string{"primary", "replica"}[w%2], time.Microsecond, 1, i%10 == 0)
				if i%500 == 0 {
					s.Snapshot()
				}
			}
		}()
	}
	wg.Wait()
	var count uint64
	for _, e := range s.Snapshot() {
		count += e.Count
	}
	if s.Len() > 64 || count == 0 || count > workers*per {
		t.Fatalf("len %d, count %d", s.Len(), count)
	}
}

func TestReset(t *testing.T) {
	s := New(Options{})
	record(s, "SELECT 1", "replica", time.Millisecond, 1, false)
	s.Reset()
	if s.Len() != 0 || len(s.Snapshot()) != 0 {
		t.Fatal("Reset left entries behind")
	}
	record(s, "SELECT 1", "replica", time.Millisecond, 1, false)
	if e := s.Snapshot(); len(e) != 1 || e[0].Count != 1 {
		t.Fatalf("after reset: %+v", e)
	}
}

func BenchmarkRecordExisting(b *testing.B) {
	s := New(Options{})
	sql := []byte("SELECT c FROM sbtest1 WHERE id = 17")
	h := routing.DigestHash(sql)
	b.ReportAllocs()
	for b.Loop() {
		s.Record(h, sql, "replica", time.Millisecond, 1, false)
	}
}

func BenchmarkRecordExistingParallel(b *testing.B) {
	s := New(Options{})
	sqls := make([][]byte, 16)
	hashes := make([]uint64, len(sqls))
	for i := range sqls {
		sqls[i] = []byte(fmt.Sprintf("SELECT c FROM sbtest%d WHERE id = 17", i))
		hashes[i] = routing.DigestHash(sqls[i])
		s.Record(hashes[i], sqls[i], "replica", time.Millisecond, 1, false)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			j := i % len(sqls)
			s.Record(hashes[j], sqls[j], "replica", time.Millisecond, 1, false)
			i++
		}
	})
}

// BenchmarkRecordChurn measures a full store fed only new digests: the worst
// case, paying normalisation and amortised eviction on every call.
func BenchmarkRecordChurn(b *testing.B) {
	s := New(Options{})
	sql := []byte("SELECT c FROM sbtest1 WHERE id = 17 AND k IN (1,2,3)")
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		i++
		s.Record(i, sql, "replica", time.Millisecond, 1, false)
	}
}
