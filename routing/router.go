package routing

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/topology"
)

// ErrNoReplica is returned in Decision.Err when a read needs a replica, none
// qualifies, and routing.fallback is "error".
var ErrNoReplica = errors.New("no replica available for this read (routing.fallback=error)")

// Read-your-writes modes (routing.read_your_writes).
const (
	RYWOff     = "off"
	RYWSession = "session"
	RYWGlobal  = "global"
)

// DefaultMaxLag is the lag limit of a configuration that sets none.
const DefaultMaxLag = time.Second

// Decision is where one statement goes.
type Decision struct {
	Server string // chosen server; "" with Primary set: no primary now, wait for the write gate
	Route  Route  // RoutePrimary, RouteReplica or RouteGroup, for metrics
	// Primary: the statement needs the writable primary, so the write gate
	// applies (held during failover). Reads routed to the primary by a hint,
	// rule or fallback do not set it, except when there is no primary at all.
	Primary bool
	// WaitGTID: read-your-writes could not find a replica that has applied
	// the session's last write; run MASTER_GTID_WAIT(LastGTID, RYWWait()) on
	// Server first and read the primary if it times out.
	WaitGTID bool
	Err      error // ErrNoReplica; never allocated per call
}

// rule is a compiled routing.rules entry.
type rule struct {
	re     *regexp.Regexp
	digest uint64 // DigestHash of the rule's digest text, when hasDig
	hasDig bool
	user   string
	route  Route
	group  []string // server names, with RouteGroup
}

// Router decides where statements go. It is immutable after NewRouter (a
// config reload builds a new one) and safe for concurrent use.
type Router struct {
	maxLag     time.Duration
	ryw        string
	rywWait    time.Duration
	fallbackOK bool // fallback: primary
	dc         string
	rules      []rule
	userRoute  map[string]Route
	rotor      atomic.Uint64 // rotates ties between equally loaded replicas
}

// NewRouter compiles the routing section of cfg (validated by package config;
// errors here are the ones compiling runs into). A zero max_replica_lag means
// DefaultMaxLag.
func NewRouter(cfg *config.Config) (*Router, error) {
	rc := cfg.Routing
	r := &Router{
		maxLag:     rc.MaxReplicaLag.D(),
		ryw:        rc.ReadYourWrites,
		rywWait:    rc.RYWWait.D(),
		fallbackOK: rc.Fallback != "error",
		dc:         cfg.Datacenter,
		userRoute:  map[string]Route{},
	}
	if r.maxLag <= 0 {
		r.maxLag = DefaultMaxLag
	}
	switch r.ryw {
	case "":
		r.ryw = RYWSession
	case RYWOff, RYWSession, RYWGlobal:
	default:
		return nil, fmt.Errorf("routing.read_your_writes %q: want off, session or global", rc.ReadYourWrites)
	}
	switch rc.Fallback {
	case "", "primary", "error":
	default:
		return nil, fmt.Errorf("routing.fallback %q: want primary or error", rc.Fallback)
	}
	for i, rr := range rc.Rules {
		where := fmt.Sprintf("routing.rules[%d]", i)
		if rr.Name != "" {
			where += " (" + rr.Name + ")"
		}
		var cr rule
		cr.user = rr.User
		switch {
		case rr.Route == "primary":
			cr.route = RoutePrimary
		case rr.Route == "replica":
			cr.route = RouteReplica
		case strings.HasPrefix(rr.Route, "group:"):
			g := strings.TrimPrefix(rr.Route, "group:")
			members, ok := rc.Groups[g]
			if !ok {
				return nil, fmt.Errorf("%s: route %q: no such group in routing.groups", where, rr.Route)
			}
			cr.route, cr.group = RouteGroup, append([]string(nil), members...)
		default:
			return nil, fmt.Errorf("%s: route %q: want primary, replica or group:<name>", where, rr.Route)
		}
		if rr.Match == "" && rr.Digest == "" {
			return nil, fmt.Errorf("%s: needs match or digest", where)
		}
		if rr.Match != "" {
			re, err := regexp.Compile(rr.Match)
			if err != nil {
				return nil, fmt.Errorf("%s: match: %w", where, err)
			}
			cr.re = re
		}
		if rr.Digest != "" {
			cr.digest, cr.hasDig = DigestHash([]byte(rr.Digest)), true
		}
		r.rules = append(r.rules, cr)
	}
	for _, u := range cfg.Users {
		switch u.DefaultRoute {
		case "", "auto":
		case "primary":
			r.userRoute[u.Name] = RoutePrimary
		case "replica":
			r.userRoute[u.Name] = RouteReplica
		default:
			return nil, fmt.Errorf("users.%s.default_route %q: want auto, primary or replica", u.Name, u.DefaultRoute)
		}
	}
	return r, nil
}

// MaxLag is routing.max_replica_lag.
func (r *Router) MaxLag() time.Duration { return r.maxLag }

// RYWMode is routing.read_your_writes: off, session or global.
func (r *Router) RYWMode() string { return r.ryw }

// RYWWait bounds the MASTER_GTID_WAIT run when Decision.WaitGTID is set.
func (r *Router) RYWWait() time.Duration { return r.rywWait }

// Fallback is where reads go when no replica qualifies: primary or error.
func (r *Router) Fallback() string {
	if r.fallbackOK {
		return "primary"
	}
	return "error"
}

// Decide picks the server for one statement. c is Classify(sql); s the
// session's routing state; snap the current topology; load gives the
// in-flight statements per server (nil counts as zero). It does not allocate.
//
// Precedence for statements that may run on a replica: an open transaction
// (its server), a hint, the first matching rule, the user's default route,
// then read/write splitting. Nothing sends a statement that needs the primary
// anywhere else.
func (r *Router) Decide(c Class, sql []byte, s *SessionInput, snap *topology.Snapshot, load func(server string) int) Decision {
	if s.InTx {
		if s.TxServer != "" {
			route := RouteReplica
			if s.TxServer == snap.Primary {
				route = RoutePrimary
			}
			return Decision{Server: s.TxServer, Route: route}
		}
		if s.TxReadOnly && (c.ReplicaSafe() || c.Kind == KindBeginReadOnly) {
			return r.replica(s, snap, load, 0, true)
		}
		return primary(snap)
	}
	if s.NoAutocommit && c.Kind != KindBeginReadOnly {
		return primary(snap)
	}
	if !c.ReplicaSafe() && c.Kind != KindBeginReadOnly {
		return primary(snap)
	}
	route, group := RouteAuto, []string(nil)
	var maxLag time.Duration
	if c.Has(FlagHint) {
		route, maxLag = c.Hint.Route, c.Hint.MaxLag
	}
	if route == RouteAuto {
		route, group = r.matchRule(sql, s.User)
	}
	if route == RouteAuto {
		route = r.userRoute[s.User]
	}
	switch route {
	case RoutePrimary:
		return primaryRead(snap)
	case RouteGroup:
		return r.group(group, snap, load)
	case RouteReplica:
		// An explicit replica route accepts replica staleness up to the lag
		// limit: read-your-writes does not apply.
		return r.replica(s, snap, load, maxLag, false)
	}
	return r.replica(s, snap, load, maxLag, true)
}

// matchRule returns the route of the first rule matching the statement.
func (r *Router) matchRule(sql []byte, user string) (Route, []string) {
	var h uint64
	hashed := false
	for i := range r.rules {
		rl := &r.rules[i]
		if rl.user != "" && rl.user != user {
			continue
		}
		if rl.hasDig {
			if !hashed {
				h, hashed = DigestHash(sql), true
			}
			if h != rl.digest {
				continue
			}
		}
		if rl.re != nil && !rl.re.Match(sql) {
			continue
		}
		return rl.route, rl.group
	}
	return RouteAuto, nil
}

func primary(snap *topology.Snapshot) Decision {
	return Decision{Server: snap.Primary, Route: RoutePrimary, Primary: true}
}

// primaryRead sends a read to the primary; with no primary it waits for one
// like a write would.
func primaryRead(snap *topology.Snapshot) Decision {
	return Decision{Server: snap.Primary, Route: RoutePrimary, Primary: snap.Primary == ""}
}

// replica picks a replica for a read. maxLag > 0 (a hint) replaces the lag
// limit, judged on LagMs directly. With ryw, read-your-writes applies.
func (r *Router) replica(s *SessionInput, snap *topology.Snapshot, load func(string) int, maxLag time.Duration, ryw bool) Decision {
	needGTID := ryw && r.ryw != RYWOff && s.HasGTID
	best := r.pick(snap, load, maxLag, needGTID, s)
	if best >= 0 {
		return Decision{Server: snap.Servers[best].Name, Route: RouteReplica}
	}
	if needGTID {
		// Nothing has applied the session's write yet: wait on a replica
		// that qualifies otherwise, or read the primary.
		if r.rywWait > 0 {
			if i := r.pick(snap, load, maxLag, false, s); i >= 0 {
				return Decision{Server: snap.Servers[i].Name, Route: RouteReplica, WaitGTID: true}
			}
		}
		return primaryRead(snap)
	}
	if !r.fallbackOK {
		return Decision{Route: RouteReplica, Err: ErrNoReplica}
	}
	return primaryRead(snap)
}

// candidate is a server's standing for one read.
type candidate struct {
	ok     bool
	local  bool // in the proxy's datacenter
	load   int
	weight int
}

// beats reports whether c is a better choice than o: local first, then the
// smaller (load+1)/weight, compared without division.
func (c candidate) beats(o candidate) bool {
	if c.local != o.local {
		return c.local
	}
	return (c.load+1)*o.weight < (o.load+1)*c.weight
}

func (c candidate) ties(o candidate) bool { return !c.beats(o) && !o.beats(c) }

// replicaCandidate judges snap.Servers[i] for a replica read.
func (r *Router) replicaCandidate(srv *topology.Server, snap *topology.Snapshot, load func(string) int, maxLag time.Duration, needGTID bool, s *SessionInput) candidate {
	if srv.Role != topology.RoleReplica || !srv.Readable() || srv.Weight <= 0 || srv.Name == snap.Primary {
		return candidate{}
	}
	if maxLag > 0 {
		if srv.LagMs < 0 || srv.LagMs > maxLag.Milliseconds() {
			return candidate{}
		}
	} else if !srv.LagEligible || srv.LagMs < 0 {
		return candidate{}
	}
	if needGTID && !srv.GTID.CoversGTID(s.LastGTID) {
		return candidate{}
	}
	c := candidate{ok: true, local: r.dc != "" && srv.Datacenter == r.dc, weight: srv.Weight}
	if load != nil {
		c.load = load(srv.Name)
	}
	return c
}

// pick returns the index of the best qualifying replica, or -1. Equal
// candidates take turns: the first pass finds the best standing and how
// many share it, the second takes the k-th of those, k rotating per call.
func (r *Router) pick(snap *topology.Snapshot, load func(string) int, maxLag time.Duration, needGTID bool, s *SessionInput) int {
	best, bestC, ties := -1, candidate{}, 0
	for i := range snap.Servers {
		c := r.replicaCandidate(&snap.Servers[i], snap, load, maxLag, needGTID, s)
		switch {
		case !c.ok:
		case best < 0 || c.beats(bestC):
			best, bestC, ties = i, c, 1
		case c.ties(bestC):
			ties++
		}
	}
	if ties < 2 {
		return best
	}
	k := int(r.rotor.Add(1) % uint64(ties))
	for i := range snap.Servers {
		// load may have moved since the first pass; then the first best stands
		if c := r.replicaCandidate(&snap.Servers[i], snap, load, maxLag, needGTID, s); c.ok && c.ties(bestC) {
			if k == 0 {
				return i
			}
			k--
		}
	}
	return best
}

// group picks the least loaded readable member of a rule's server group.
// Replicas must be within the lag limit; the primary always qualifies.
func (r *Router) group(members []string, snap *topology.Snapshot, load func(string) int) Decision {
	start := int(r.rotor.Add(1) % uint64(len(members)))
	best, bestC := "", candidate{}
	for k := range members {
		srv := snap.Server(members[(start+k)%len(members)])
		if srv == nil || !srv.Readable() || srv.Weight <= 0 {
			continue
		}
		if srv.Name != snap.Primary && (!srv.LagEligible || srv.LagMs < 0) {
			continue
		}
		c := candidate{ok: true, weight: srv.Weight}
		if load != nil {
			c.load = load(srv.Name)
		}
		if best == "" || c.beats(bestC) {
			best, bestC = srv.Name, c
		}
	}
	if best != "" {
		return Decision{Server: best, Route: RouteGroup}
	}
	if !r.fallbackOK {
		return Decision{Route: RouteGroup, Err: ErrNoReplica}
	}
	return primaryRead(snap)
}
