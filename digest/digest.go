// Package digest keeps per-statement-shape statistics (count, latency, rows,
// errors, route) in a bounded top-K store for SHOW QUERY DIGESTS.
//
// Unlike an unbounded digest table, the store never grows past MaxEntries:
// when it is full, the eighth of the entries with the smallest total time is
// evicted in one pass, so statements that matter (by time spent) survive a
// stream of one-off statements, and eviction costs O(log n) per new digest
// amortised instead of a scan per insert. An evicted digest that comes back
// starts from zero. Recording a statement whose digest is already known takes
// a read lock and a few atomic adds and never allocates.
package digest

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/routing"
)

// Defaults for Options.
const (
	DefaultMaxEntries = 5000
	DefaultMaxTextLen = 1024
)

// Options bound the store's memory: about MaxEntries × (MaxTextLen + 150) bytes.
type Options struct {
	MaxEntries int // default 5000
	MaxTextLen int // normalised text is cut at this many bytes (and marked with "..."); default 1024
}

// Entry is one digest's statistics at the time of Snapshot.
type Entry struct {
	Hash      uint64
	Text      string // normalised statement: literals as ?, IN lists collapsed
	Route     string // every route seen for this digest, e.g. "replica" or "primary,replica"
	Count     uint64
	Total     time.Duration
	Max       time.Duration
	Rows      uint64
	Errors    uint64
	FirstSeen time.Time
	LastSeen  time.Time
}

// Avg is the mean latency.
func (e *Entry) Avg() time.Duration {
	if e.Count == 0 {
		return 0
	}
	return e.Total / time.Duration(e.Count)
}

type entry struct {
	hash      uint64
	text      string
	firstSeen int64 // unix nanoseconds
	count     atomic.Uint64
	totalNs   atomic.Int64
	maxNs     atomic.Int64
	rows      atomic.Uint64
	errors    atomic.Uint64
	lastSeen  atomic.Int64
	routes    atomic.Uint32 // bit i = Store.routes[i] seen
}

// maxRoutes bounds the distinct route names a store tracks; routes are a
// handful of constants (primary, replica, group, ...).
const maxRoutes = 16

// Store is the bounded digest table. It is safe for concurrent use.
type Store struct {
	maxEntries int
	maxText    int

	mu      sync.RWMutex
	entries map[uint64]*entry
	routes  [maxRoutes]string
	nRoutes atomic.Int32
	scratch []byte // Digest buffer, reused under mu
	evicted atomic.Uint64
}

// New returns an empty store.
func New(o Options) *Store {
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxTextLen <= 0 {
		o.MaxTextLen = DefaultMaxTextLen
	}
	return &Store{
		maxEntries: o.MaxEntries,
		maxText:    o.MaxTextLen,
		entries:    make(map[uint64]*entry, o.MaxEntries),
	}
}

// Record adds one executed statement. hash must be routing.DigestHash(sql);
// sql is only read (and normalised) the first time a hash is seen.
func (s *Store) Record(hash uint64, sql []byte, route string, d time.Duration, rows int64, failed bool) {
	now := time.Now().UnixNano()
	s.mu.RLock()
	e := s.entries[hash]
	s.mu.RUnlock()
	if e == nil {
		e = s.insert(hash, sql, now)
	}
	e.count.Add(1)
	ns := int64(d)
	e.totalNs.Add(ns)
	for cur := e.maxNs.Load(); ns > cur && !e.maxNs.CompareAndSwap(cur, ns); cur = e.maxNs.Load() {
	}
	if rows > 0 {
		e.rows.Add(uint64(rows))
	}
	if failed {
		e.errors.Add(1)
	}
	e.lastSeen.Store(now)
	if bit := s.routeBit(route); bit != 0 && e.routes.Load()&bit == 0 {
		e.routes.Or(bit)
	}
}

// insert adds a new entry for hash (or returns the one another goroutine just
// added), evicting first when the store is full.
func (s *Store) insert(hash uint64, sql []byte, now int64) *entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entries[hash]; e != nil {
		return e
	}
	if len(s.entries) >= s.maxEntries {
		s.evictLocked()
	}
	// Normalising a multi-megabyte statement only to cut its text would cost
	// time and leave a large scratch buffer behind: bound the input.
	cut := len(sql) > 8*s.maxText
	if cut {
		sql = sql[:8*s.maxText]
	}
	s.scratch = routing.Digest(s.scratch[:0], sql)
	text := s.scratch
	if len(text) > s.maxText {
		text, cut = text[:s.maxText], true
	}
	str := string(text)
	if cut {
		str += "..."
	}
	e := &entry{hash: hash, text: str, firstSeen: now}
	s.entries[hash] = e
	return e
}

// evictLocked removes the eighth of the entries with the least total time
// (at least one).
func (s *Store) evictLocked() {
	type cand struct {
		hash  uint64
		total int64
	}
	all := make([]cand, 0, len(s.entries))
	for h, e := range s.entries {
		all = append(all, cand{h, e.totalNs.Load()})
	}
	n := max(len(all)/8, 1)
	// Partial order is enough, but n is large relative to len; a full sort of
	// a few thousand pairs is simple and runs once per n inserts.
	slices.SortFunc(all, func(a, b cand) int {
		switch {
		case a.total < b.total:
			return -1
		case a.total > b.total:
			return 1
		}
		return 0
	})
	for _, c := range all[:n] {
		delete(s.entries, c.hash)
	}
	s.evicted.Add(uint64(n))
}

// routeBit interns route names so entries can keep a bit set instead of a
// string (no allocation on Record). Unknown names beyond maxRoutes are not
// tracked.
func (s *Store) routeBit(route string) uint32 {
	if route == "" {
		return 0
	}
	n := int(s.nRoutes.Load())
	for i := 0; i < n; i++ {
		if s.routes[i] == route {
			return 1 << i
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n = int(s.nRoutes.Load())
	for i := 0; i < n; i++ {
		if s.routes[i] == route {
			return 1 << i
		}
	}
	if n == maxRoutes {
		return 0
	}
	s.routes[n] = strings.Clone(route)
	s.nRoutes.Store(int32(n + 1))
	return 1 << n
}

// Len returns the number of digests held.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.entries)
}

// Evicted returns how many digests were evicted to stay within MaxEntries.
func (s *Store) Evicted() uint64 { return s.evicted.Load() }

// Snapshot returns all entries ordered by total time, largest first.
func (s *Store) Snapshot() []Entry {
	s.mu.RLock()
	out := make([]Entry, 0, len(s.entries))
	var names [maxRoutes]string
	copy(names[:], s.routes[:])
	for _, e := range s.entries {
		out = append(out, Entry{
			Hash:      e.hash,
			Text:      e.text,
			Route:     routeNames(e.routes.Load(), &names),
			Count:     e.count.Load(),
			Total:     time.Duration(e.totalNs.Load()),
			Max:       time.Duration(e.maxNs.Load()),
			Rows:      e.rows.Load(),
			Errors:    e.errors.Load(),
			FirstSeen: time.Unix(0, e.firstSeen),
			LastSeen:  time.Unix(0, e.lastSeen.Load()),
		})
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Entry) int {
		switch {
		case a.Total > b.Total:
			return -1
		case a.Total < b.Total:
			return 1
		case a.Hash < b.Hash: // stable output for equal totals
			return -1
		case a.Hash > b.Hash:
			return 1
		}
		return 0
	})
	return out
}

func routeNames(bits uint32, names *[maxRoutes]string) string {
	var parts []string
	for i := 0; i < maxRoutes; i++ {
		if bits&(1<<i) != 0 {
			parts = append(parts, names[i])
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// Reset forgets every digest.
func (s *Store) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = make(map[uint64]*entry, s.maxEntries)
}
