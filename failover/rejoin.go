package failover

import (
	"context"
	"fmt"
	"time"

	"github.com/switchyard/switchyard/topology"
)

// rejoinRetry spaces attempts to re-attach a returning server.
const rejoinRetry = 5 * time.Second

// rejoining is a returning server being re-attached as a replica.
type rejoining struct {
	started  bool      // pointed at the primary, waiting for its threads
	deadline time.Time // started: give up at
	next     time.Time // earliest next step
	fence    string    // what fencing did when it returned
}

// rejoin re-attaches servers that returned while the primary is healthy: a
// fenced old primary (failover.rejoin) and replicas still pointing at a
// fenced server. Each step is short, so detection is never delayed long.
func (m *Manager) rejoin(ctx context.Context, snap *topology.Snapshot) {
	set := m.settings()
	p := snap.PrimaryServer()
	if snap.Gate != topology.WritesOpen || p == nil {
		return
	}
	now := m.now()
	m.mu.Lock()
	published := m.published
	m.mu.Unlock()
	for i := range snap.Servers {
		s := &snap.Servers[i]
		former := s.Role == topology.RoleFenced && s.Reachable
		// A replica still pointing at a fenced server was not reachable
		// when the primary changed; observations older than the change
		// may predate its repointing.
		stale := s.Role == topology.RoleReplica && s.Reachable && s.IsReplica && !s.IOThread &&
			pointsAtFenced(snap, s.SourceAddr) && s.CheckedAt.After(published)
		m.mu.Lock()
		r := m.rejoins[s.Name]
		if !former && !stale {
			delete(m.rejoins, s.Name)
			m.mu.Unlock()
			continue
		}
		if r == nil {
			r = &rejoining{}
			m.rejoins[s.Name] = r
		}
		m.mu.Unlock()
		if now.Before(r.next) {
			continue
		}
		if former && r.fence == "" {
			fctx, cancel := context.WithTimeout(ctx, time.Second)
			r.fence = m.fenceDB(fctx, s)
			cancel()
			m.log.Info("fenced returning old primary", "server", s.Name, "fence", r.fence)
		}
		if former && !set.cfg.Failover.Rejoin {
			r.next = now.Add(time.Hour)
			continue
		}
		if !r.started {
			m.startRejoin(ctx, s, p, r, former)
		} else {
			m.checkRejoin(ctx, s, r, former)
		}
	}
}

// pointsAtFenced reports whether addr is a fenced server's address.
func pointsAtFenced(snap *topology.Snapshot, addr string) bool {
	s := serverAt(snap, addr)
	return s != nil && s.Role == topology.RoleFenced
}

// startRejoin checks that s's history is contained in the primary's and
// points it at the primary; a diverged server is quarantined.
func (m *Manager) startRejoin(ctx context.Context, s, p *topology.Server, r *rejoining, former bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*dialTimeout)
	defer cancel()
	r.next = m.now().Add(rejoinRetry)
	fail := func(err error) { m.log.Warn("rejoin attempt failed", "server", s.Name, "error", err) }
	sdb, err := m.db(s)
	if err != nil {
		fail(err)
		return
	}
	pdb, err := m.db(p)
	if err != nil {
		fail(err)
		return
	}
	st, err := readState(ctx, sdb)
	if err != nil {
		fail(err)
		return
	}
	pst, err := readState(ctx, pdb)
	if err != nil {
		fail(err)
		return
	}
	m.mu.Lock()
	promoted := m.promotedAt[p.Name]
	m.mu.Unlock()
	if why := diverged(st.Current, st.ServerID, promoted, pst.Current); why != "" {
		m.quarantine(ctx, s, p.Name, why, r)
		return
	}
	src, err := sourceFromAddr(p.Addr, m.cfg.Load().Replication)
	if err != nil {
		fail(err)
		return
	}
	if err := m.repoint(ctx, s, st.Flavor, src, former, semiSyncInUse(m.view.Load())); err != nil {
		fail(err)
		return
	}
	r.started, r.deadline, r.next = true, m.now().Add(verifyBound), time.Time{}
	m.log.Info("rejoining as replica", "server", s.Name, "primary", p.Name, "position", st.Current.String())
}

// checkRejoin looks once at a server being re-attached.
func (m *Manager) checkRejoin(ctx context.Context, s *topology.Server, r *rejoining, former bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*dialTimeout)
	defer cancel()
	primary := m.view.Load().Primary
	db, err := m.db(s)
	if err != nil {
		return
	}
	st, err := readState(ctx, db)
	switch {
	case err != nil:
	case st.IORunning && st.SQLRunning:
		m.view.UpdateServer(s.Name, func(s *topology.Server) { s.Role = topology.RoleReplica })
		m.mu.Lock()
		delete(m.rejoins, s.Name)
		m.mu.Unlock()
		if former {
			m.record(&Event{Kind: KindRejoin, Trigger: TriggerAuto, OldPrimary: s.Name, NewPrimary: primary,
				Result: ResultSuccess, Reason: s.Name + " replicates from " + primary, Fence: r.fence, Start: m.now()})
		} else {
			m.log.Info("replica repointed", "server", s.Name, "primary", primary)
		}
		return
	case st.IOErrno == errIOFatal:
		m.quarantine(ctx, s, primary, (errDiverged{st.ReplError}).Error(), r)
		return
	}
	if m.now().After(r.deadline) {
		r.started, r.next = false, m.now().Add(rejoinRetry)
		m.log.Warn("rejoin: not replicating in time, retrying later", "server", s.Name, "error", err, "repl_error", st.ReplError)
		return
	}
	r.next = m.now().Add(50 * time.Millisecond)
}

// quarantine takes a diverged server out of routing for good (until an
// operator rebuilds it) and reports it.
func (m *Manager) quarantine(ctx context.Context, s *topology.Server, primary, why string, r *rejoining) {
	if db, err := m.db(s); err == nil {
		execAll(ctx, db, stopReplicationSQL(s.Flavor)) // best effort: it must not apply more
	}
	m.view.UpdateServer(s.Name, func(s *topology.Server) { s.Role = topology.RoleQuarantined })
	m.mu.Lock()
	delete(m.rejoins, s.Name)
	m.mu.Unlock()
	m.record(&Event{Kind: KindRejoin, Trigger: TriggerAuto, OldPrimary: s.Name, NewPrimary: primary, Result: ResultRefused,
		Reason: fmt.Sprintf("%s quarantined: %s", s.Name, why), Fence: r.fence, Start: m.now()})
}
