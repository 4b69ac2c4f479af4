package health

import (
	"sort"
	"strings"
	"sync"
	"time"
)

// maxBeats bounds the heartbeat history: at the default 100 ms interval it
// covers about 7 minutes; a replica further behind gets a clock-difference
// estimate instead (see heartbeats.lag).
const maxBeats = 4096

// beat is one heartbeat timestamp (written by the primary's clock) and the
// moment the proxy first knew it existed (on the proxy's monotonic clock).
type beat struct {
	ts time.Time
	at time.Time
}

// heartbeats is the history of the current primary's heartbeats, fed by the
// heartbeat writer (which reads back what it wrote) and by the primary's own
// monitor (which also covers an external pt-heartbeat). Replica lag is then
// measured on the proxy's clock, so host clocks never matter.
type heartbeats struct {
	mu       sync.Mutex
	serverID uint32 // the primary whose heartbeats these are
	seen     []beat // ascending ts
}

// record adds a heartbeat read from serverID's own row at time at. Writer
// readings are authoritative: a timestamp older than the newest means the
// primary's clock stepped back, and the history restarts from it.
func (h *heartbeats) record(serverID uint32, ts, at time.Time, authoritative bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(h.seen)
	switch {
	case serverID != h.serverID || n == 0:
		h.serverID = serverID
		h.seen = append(h.seen[:0], beat{ts, at})
	case ts.After(h.seen[n-1].ts):
		if n == maxBeats {
			h.seen = h.seen[1:]
		}
		h.seen = append(h.seen, beat{ts, at})
	case authoritative && ts.Before(h.seen[n-1].ts):
		h.seen = append(h.seen[:0], beat{ts, at})
	}
}

// lag returns how far behind a replica whose newest heartbeat from serverID
// is replicaTS was at time now. It is 0 when the replica holds the newest
// heartbeat known, otherwise the age of the oldest known heartbeat the
// replica is missing: a lower bound exact to within one heartbeat interval
// (plus the primary monitor's interval for an external writer). ok is false
// when there is no fresh history for serverID: nobody has seen it write a
// heartbeat within staleAfter, so its heartbeats say nothing about lag.
func (h *heartbeats) lag(serverID uint32, replicaTS, now time.Time, staleAfter time.Duration) (ms int64, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := len(h.seen)
	if serverID == 0 || serverID != h.serverID || n == 0 || now.Sub(h.seen[n-1].at) > staleAfter {
		return 0, false
	}
	if !replicaTS.Before(h.seen[n-1].ts) {
		return 0, true
	}
	i := sort.Search(n, func(i int) bool { return h.seen[i].ts.After(replicaTS) })
	d := now.Sub(h.seen[i].at)
	if i == 0 {
		// Older than the whole history: add the gap on the primary's clock.
		d += h.seen[0].ts.Sub(replicaTS)
	}
	return max(d.Milliseconds(), 0), true
}

// parseTS parses a heartbeat ts column as written by Switchyard and by
// pt-heartbeat ("2006-01-02T15:04:05.000000", UTC with --utc). Only
// differences between two such values are used, so the zone does not matter.
func parseTS(s string) (time.Time, error) {
	return time.Parse("2006-01-02T15:04:05.999999999", strings.Replace(s, " ", "T", 1))
}

// eligible applies hysteresis to the replica lag limit: a replica leaves the
// read pool when its lag exceeds maxLag and re-enters only at or below
// maxLag-hysteresis, so one hovering at the limit does not flap. Unknown lag
// (-1) is never eligible.
func eligible(wasEligible bool, lagMs int64, maxLag, hysteresis time.Duration) bool {
	if lagMs < 0 {
		return false
	}
	limit := maxLag
	if !wasEligible {
		limit = max(maxLag-hysteresis, 0)
	}
	return time.Duration(lagMs)*time.Millisecond <= limit
}
