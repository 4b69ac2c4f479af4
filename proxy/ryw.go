package proxy

import (
	"sync"

	"github.com/switchyard/switchyard/gtid"
	"github.com/switchyard/switchyard/routing"
)

// newestGTID is the newest write seen through this proxy, for
// read_your_writes: global (monotonic reads across every session). A mutex,
// not an atomic pointer, so that noting a write allocates nothing.
type newestGTID struct {
	mu  sync.Mutex
	g   gtid.GTID
	has bool
}

// note records a write's GTID if it is newer in its domain (or the first).
func (n *newestGTID) note(g gtid.GTID) {
	n.mu.Lock()
	if !n.has || g.Domain == n.g.Domain && g.Seq > n.g.Seq {
		n.g, n.has = g, true
	}
	n.mu.Unlock()
}

// raise makes the session wait for the newest write seen by any session,
// unless its own is newer.
func (n *newestGTID) raise(in *routing.SessionInput) {
	n.mu.Lock()
	g, has := n.g, n.has
	n.mu.Unlock()
	if has && (!in.HasGTID || g.Domain == in.LastGTID.Domain && g.Seq > in.LastGTID.Seq) {
		in.LastGTID, in.HasGTID = g, true
	}
}
