package failover

import (
	"fmt"
	"sort"

	"github.com/switchyard/switchyard/gtid"
	"github.com/switchyard/switchyard/topology"
)

// candidate is a replica considered for promotion, with its fresh state.
type candidate struct {
	Server topology.Server
	State  state
	Err    error // reading its state failed: not a candidate
}

// excluded says why a server can never be promoted now, or "".
func excluded(c candidate) string {
	switch {
	case c.Err != nil:
		return "unreachable: " + c.Err.Error()
	case c.Server.Promotion == "never":
		return "promotion: never"
	case c.Server.Admin == topology.AdminOffline:
		return "offline"
	case c.Server.Role != topology.RoleReplica:
		return "role " + c.Server.Role.String()
	}
	return ""
}

// rank orders eligible candidates best first and returns the rest with the
// reason each was excluded. Only replicas that no other replica is ahead of
// may be chosen: promoting a replica that is behind would lose the
// transactions the others received and leave them unable to follow it. Among
// those: the failed primary's datacenter, then promotion: prefer, then the
// most received (with semi-sync, the replica that acknowledged the last
// transaction), then the most applied, then the name for a stable order.
func rank(cands []candidate, oldPrimaryDC string) (ordered []candidate, skipped map[string]string) {
	skipped = map[string]string{}
	var ok []candidate
	for _, c := range cands {
		if why := excluded(c); why != "" {
			skipped[c.Server.Name] = why
			continue
		}
		ok = append(ok, c)
	}
	ahead := func(a, b candidate) bool { // a received strictly more than b
		return a.State.Received.Contains(b.State.Received) && !b.State.Received.Contains(a.State.Received)
	}
	behind := make(map[string]bool)
	for _, a := range ok {
		for _, b := range ok {
			if ahead(b, a) {
				behind[a.Server.Name] = true
			}
		}
	}
	key := func(c candidate) [3]bool {
		return [3]bool{!behind[c.Server.Name], oldPrimaryDC != "" && c.Server.Datacenter == oldPrimaryDC, c.Server.Promotion == "prefer"}
	}
	sort.SliceStable(ok, func(i, j int) bool {
		ki, kj := key(ok[i]), key(ok[j])
		for n := range ki {
			if ki[n] != kj[n] {
				return ki[n]
			}
		}
		if ahead(ok[i], ok[j]) || ahead(ok[j], ok[i]) {
			return ahead(ok[i], ok[j])
		}
		ai, aj := ok[i].State.Applied, ok[j].State.Applied
		if ai.Contains(aj) != aj.Contains(ai) {
			return ai.Contains(aj)
		}
		return ok[i].Server.Name < ok[j].Server.Name
	})
	return ok, skipped
}

// errant returns the transactions the candidate wrote itself that no other
// server's history has, or "" when there are none. Such a transaction would
// become part of the new primary's history while every other server lacks
// it. MariaDB positions hold the last GTID per domain: a domain whose last
// GTID carries the candidate's own server id is errant unless a reference
// has that exact GTID or has moved past it (the candidate is then a former
// primary that is merely behind). MySQL executed sets are compared whole
// against the union of the references.
func errant(cand state, refs []gtid.Set) string {
	if cand.Flavor == topology.FlavorMySQL {
		for _, r := range refs {
			if r.Contains(cand.Binlog) {
				return ""
			}
		}
		if len(refs) == 0 {
			return ""
		}
		return fmt.Sprintf("executed set %s is not contained in any other server's", cand.Binlog)
	}
	for _, g := range cand.Binlog.MariaDB {
		if g.ServerID != cand.ServerID {
			continue
		}
		known := false
		for _, r := range refs {
			for _, h := range r.MariaDB {
				if h.Domain == g.Domain && (h.Seq > g.Seq || h == g) {
					known = true
				}
			}
		}
		if !known {
			return fmt.Sprintf("errant transaction %s (written on the candidate, missing elsewhere)", g)
		}
	}
	return ""
}

// diverged reports why a returning server's history is not contained in the
// history it would replicate, or "". promotedAt is the new primary's position
// when it was promoted (zero when unknown); current is its position now.
// MariaDB: beyond promotedAt the new primary only has its own transactions,
// so any later sequence number on the returning server is one it lacks; at
// the same sequence number the GTIDs must be equal. A GTID originated by
// another server that the primary has was replicated from the primary's
// lineage (a rejoin interrupted after it started replicating), not written
// by the returning server (returningID).
func diverged(returning gtid.Set, returningID uint32, promotedAt, current gtid.Set) string {
	if returning.MySQL != nil {
		if current.Contains(returning) {
			return ""
		}
		return fmt.Sprintf("has transactions the primary lacks (%s not in %s)", returning, current)
	}
	for _, g := range returning.MariaDB {
		if g.ServerID != returningID && current.CoversGTID(g) {
			continue
		}
		ref := current
		if !promotedAt.IsZero() {
			ref = promotedAt
		}
		found := false
		for _, h := range ref.MariaDB {
			if h.Domain != g.Domain {
				continue
			}
			found = true
			if g.Seq > h.Seq || (g.Seq == h.Seq && g != h) {
				return fmt.Sprintf("has %s which the primary lacks (primary had %s)", g, h)
			}
		}
		if !found && !current.CoversGTID(g) {
			return fmt.Sprintf("has %s in a domain the primary never had", g)
		}
	}
	return ""
}
