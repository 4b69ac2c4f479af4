package failover

import (
	"context"
	"fmt"
	"time"

	"github.com/switchyard/switchyard/topology"
)

// refusedRetry spaces automatic attempts after a refused failover.
const refusedRetry = 5 * time.Second

// evaluate looks at the current snapshot and acts: discovery while there is
// no primary, detection while the primary fails checks, rejoin otherwise.
func (m *Manager) evaluate(ctx context.Context) {
	if !m.op.TryLock() {
		return // a switchover or manual failover is running
	}
	defer m.op.Unlock()
	snap := m.view.Load()
	m.mu.Lock()
	split := m.state == StateSplitBrain
	m.mu.Unlock()
	p := snap.PrimaryServer()
	if p == nil || split {
		m.discover(ctx)
		return
	}
	if !p.Reachable && p.FailedChecks >= m.settings().threshold {
		m.suspected(ctx, p)
		return
	}
	if p.Reachable && p.Role == topology.RolePrimary {
		m.recovered(p.Name)
		m.adopt(snap)
		m.rejoin(ctx, snap)
	}
}

// discover finds the primary from what the servers say: the one writable
// server that does not replicate. It runs at start and whenever there is no
// primary or two are writable.
func (m *Manager) discover(ctx context.Context) {
	set := m.settings()
	now := m.now()
	m.mu.Lock()
	if now.Before(m.nextDiscover) {
		m.mu.Unlock()
		return
	}
	m.nextDiscover = now.Add(set.interval)
	m.mu.Unlock()

	var names []string
	for _, s := range m.view.Load().Servers {
		names = append(names, s.Name)
	}
	m.checkAll(ctx, names)
	snap := m.view.Load()
	var writable []string
	for _, s := range snap.Servers {
		if s.Reachable && !s.ReadOnly && !s.IsReplica && s.Role != topology.RoleFenced && s.Role != topology.RoleQuarantined {
			writable = append(writable, s.Name)
		}
	}
	switch len(writable) {
	case 0:
		reason := "no writable primary found"
		m.setState(StateNoPrimary, reason)
		if snap.Gate != topology.WritesBlocked || snap.Reason != reason {
			m.log.Warn(reason)
			m.setGate(topology.WritesBlocked, time.Time{}, reason)
		}
	case 1:
		m.adoptPrimary(writable[0])
	default:
		reason := fmt.Sprintf("split brain: %s are both writable", andList(writable))
		if len(writable) > 2 {
			reason = fmt.Sprintf("split brain: %s are all writable", andList(writable))
		}
		m.setState(StateSplitBrain, reason)
		m.mu.Lock()
		logIt := snap.Reason != reason || now.Sub(m.splitLogged) >= 10*time.Second
		if logIt {
			m.splitLogged = now
		}
		m.mu.Unlock()
		if logIt {
			m.log.Error("writes blocked: two writable servers, resolve by making all but one read_only", "reason", reason)
		}
		if snap.Gate != topology.WritesBlocked || snap.Reason != reason {
			m.view.Update(func(s *topology.Snapshot) {
				s.Primary = ""
				s.Gate, s.HoldUntil, s.Reason = topology.WritesBlocked, time.Time{}, reason
			})
		}
	}
}

// adoptPrimary makes the discovered primary the one writes go to and the
// servers replicating the replicas.
func (m *Manager) adoptPrimary(name string) {
	snap := m.view.Update(func(s *topology.Snapshot) {
		if s.Primary != name {
			s.Epoch++
		}
		s.Primary = name
		s.Gate, s.HoldUntil, s.Reason = topology.WritesOpen, time.Time{}, ""
		for i := range s.Servers {
			srv := &s.Servers[i]
			switch {
			case srv.Name == name:
				srv.Role = topology.RolePrimary
			case srv.Role == topology.RoleFenced || srv.Role == topology.RoleQuarantined:
			case srv.Reachable && srv.IsReplica:
				srv.Role = topology.RoleReplica
			}
		}
	})
	m.setState(StateHealthy, "")
	var replicas []string
	for _, s := range snap.Servers {
		if s.Role == topology.RoleReplica {
			replicas = append(replicas, s.Name)
		}
	}
	m.log.Info("primary discovered", "primary", name, "replicas", replicas, "epoch", snap.Epoch)
}

// adopt settles servers whose role is unknown (unreachable at discovery):
// one that replicates becomes a replica; one that is writable without
// replicating while another server is the primary is a stray old primary
// (e.g. after a proxy restart) and is fenced, so rejoin decides its fate.
// A quarantined server that an operator rebuilt and that replicates from
// the primary again becomes a replica too.
func (m *Manager) adopt(snap *topology.Snapshot) {
	roles := map[string]topology.Role{}
	primaryAddr := snap.PrimaryServer().Addr
	for _, s := range snap.Servers {
		replicating := s.IsReplica && s.IOThread && s.SQLThread
		switch {
		case !s.Reachable:
		case s.Role == topology.RoleQuarantined && replicating && s.SourceAddr == primaryAddr:
			roles[s.Name] = topology.RoleReplica
		case s.Role != topology.RoleUnknown:
		case replicating:
			roles[s.Name] = topology.RoleReplica
		case !s.IsReplica && !s.ReadOnly:
			roles[s.Name] = topology.RoleFenced
			m.log.Warn("writable server besides the primary: fencing it", "server", s.Name, "primary", snap.Primary)
		}
	}
	if len(roles) == 0 {
		return
	}
	m.view.Update(func(s *topology.Snapshot) {
		for n, r := range roles {
			if srv := s.Server(n); srv != nil && (srv.Role == topology.RoleUnknown || srv.Role == topology.RoleQuarantined) {
				srv.Role = r
			}
		}
	})
	m.log.Info("roles settled", "roles", fmt.Sprint(roles))
}

// recovered ends a suspicion episode when the primary answers again.
func (m *Manager) recovered(primary string) {
	m.mu.Lock()
	s := m.suspect
	m.suspect = nil
	m.mu.Unlock()
	if s == nil {
		return
	}
	m.setGate(topology.WritesOpen, time.Time{}, "")
	m.setState(StateHealthy, "")
	m.log.Info("primary reachable again, writes resumed", "primary", primary, "after", m.now().Sub(s.since))
}

// suspected handles a primary that failed detection_threshold checks in a
// row: hold writes, then promote only if the replicas confirm it is dead.
func (m *Manager) suspected(ctx context.Context, p *topology.Server) {
	set := m.settings()
	now := m.now()
	m.mu.Lock()
	s, fresh := m.suspect, m.suspect == nil
	if fresh {
		s = &suspicion{since: now}
		m.suspect = s
	}
	m.mu.Unlock()
	snap := m.view.Load()
	if fresh {
		reason := fmt.Sprintf("primary %s is not responding; writes held", p.Name)
		m.setGate(topology.WritesHeld, now.Add(set.maxHold), reason)
		m.setState(StateSuspect, reason)
		m.log.Warn("primary suspect", "primary", p.Name, "failed_checks", p.FailedChecks, "error", p.LastError)
	} else if snap.Gate == topology.WritesHeld && !now.Before(snap.HoldUntil) && s.why != "" {
		m.setGate(topology.WritesBlocked, time.Time{}, s.why+"; retry later")
		m.log.Warn("writes blocked", "reason", s.why)
	}
	if now.Before(s.nextAttempt) {
		return
	}
	s.nextAttempt = now.Add(set.interval)

	if !set.cfg.Failover.Enabled {
		m.hold(s, StateSuspect, fmt.Sprintf("primary %s is unreachable and automatic failover is disabled", p.Name))
		return
	}
	m.mu.Lock()
	last := m.lastFailover
	m.mu.Unlock()
	if !last.IsZero() && now.Sub(last) < set.antiFlap {
		why := fmt.Sprintf("anti-flap: last failover at %s", fmtTime(last))
		if m.hold(s, StateRefused, why) {
			m.record(&Event{Kind: KindFailover, Trigger: TriggerAuto, OldPrimary: p.Name, Result: ResultRefused, Reason: why,
				Phases: []Phase{{PhaseSuspected, s.since}}, Start: s.since})
		}
		return
	}
	if !m.confirmDead(ctx) {
		m.hold(s, StatePartitioned, fmt.Sprintf("proxy partitioned from primary %s: the replicas still replicate from it", p.Name))
		return
	}
	ev := Event{Kind: KindFailover, Trigger: TriggerAuto, OldPrimary: p.Name, Start: s.since}
	ev.phase(PhaseSuspected, s.since)
	ev.phase(PhaseConfirmed, m.now())
	if err := m.failover(ctx, &ev, ""); err != nil {
		s.nextAttempt = m.now().Add(refusedRetry)
		m.hold(s, StateRefused, ev.Reason)
		return
	}
	m.mu.Lock()
	m.suspect = nil
	m.mu.Unlock()
}

// hold records why the suspect primary is not replaced; it reports whether
// the reason is new (to log or record once per episode and reason).
func (m *Manager) hold(s *suspicion, state, why string) bool {
	if s.why == why {
		return false
	}
	s.why = why
	m.setState(state, why)
	m.log.Warn("no failover", "reason", why)
	snap := m.view.Load()
	if snap.Gate == topology.WritesBlocked {
		m.setGate(topology.WritesBlocked, time.Time{}, why+"; retry later")
	}
	return true
}

// confirmDead asks the replicas: the primary is dead only if at least one
// reachable replica has lost it and none is still connected to it, or if every
// replica has been unreachable for as long as the primary.
// A replica connected to another known server does not vouch for the
// primary; one connected to an address the proxy does not know does, since
// the proxy may reach the primary by another address than the replicas.
func (m *Manager) confirmDead(ctx context.Context) bool {
	var names []string
	for _, s := range m.view.Load().Servers {
		if s.Role == topology.RoleReplica {
			names = append(names, s.Name)
		}
	}
	m.checkAll(ctx, names)
	snap := m.view.Load()
	reachable, lost := 0, 0
	for _, n := range names {
		s := snap.Server(n)
		if s == nil || !s.Reachable {
			continue
		}
		reachable++
		if s.IsReplica && s.IOThread {
			if other := serverAt(snap, s.SourceAddr); other == nil || other.Name == snap.Primary {
				return false // still replicating from it: the primary is alive
			}
		}
		lost++
	}
	if reachable > 0 {
		return lost > 0
	}
	// Every replica is unreachable too: they died with the primary, or the
	// proxy is cut off from all of them. A check that merely timed out on a
	// busy host is not a vote, so they count as agreeing only once each has
	// failed as many consecutive checks as made the primary suspect.
	threshold := m.settings().threshold
	for _, n := range names {
		if s := snap.Server(n); s != nil && s.FailedChecks < threshold {
			return false
		}
	}
	return true
}

// serverAt returns the server with this address, or nil.
func serverAt(snap *topology.Snapshot, addr string) *topology.Server {
	for i := range snap.Servers {
		if snap.Servers[i].Addr == addr {
			return &snap.Servers[i]
		}
	}
	return nil
}
