package failover

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/switchyard/switchyard/gtid"
	"github.com/switchyard/switchyard/topology"
)

// Failover promotes a replica now, for an operator who knows the primary is
// dead: no replica confirmation and no anti-flap. target "" picks the best
// candidate; a named target must still be safe. A reachable old primary is
// fenced (read_only, connections killed) before the promotion.
func (m *Manager) Failover(ctx context.Context, target string) (Event, error) {
	m.op.Lock()
	defer m.op.Unlock()
	ev := Event{Kind: KindFailover, Trigger: TriggerManual, OldPrimary: m.view.Load().Primary, Start: m.now()}
	err := m.failover(ctx, &ev, target)
	if err == nil {
		m.mu.Lock()
		m.suspect = nil
		m.mu.Unlock()
	}
	return ev, err
}

// failover replaces the primary with the best safe replica. ev carries the
// phases so far; it is recorded whatever the outcome.
func (m *Manager) failover(ctx context.Context, ev *Event, target string) error {
	set := m.settings()
	snap := m.view.Load()
	var old *topology.Server
	if p := snap.PrimaryServer(); p != nil {
		cp := *p
		old = &cp
	}
	m.mu.Lock()
	prevState, prevDetail := m.state, m.detail
	m.mu.Unlock()
	m.setState(StateFailover, "replacing "+orNone(ev.OldPrimary))
	heldHere := snap.Gate != topology.WritesHeld
	if heldHere {
		m.setGate(topology.WritesHeld, m.now().Add(set.maxHold), "failover in progress")
	}
	fencedInDB := false
	fail := func(result, reason string) error {
		ev.Result, ev.Reason = result, reason
		m.record(ev)
		switch {
		case result == ResultFailed:
			// Nobody was promoted: an old primary only fenced by role is
			// still the primary of record (the most advanced server), to
			// resume writes if it returns; one made read-only waits for an
			// operator.
			if old != nil && !fencedInDB {
				m.view.UpdateServer(old.Name, func(s *topology.Server) { s.Role = topology.RolePrimary })
			}
			m.setGate(topology.WritesBlocked, time.Time{}, "failover failed: "+reason+"; retry later")
			m.setState(StateFailed, reason)
		case heldHere: // nothing changed: as before (a manual FAILOVER refused)
			m.setGate(snap.Gate, snap.HoldUntil, snap.Reason)
			m.setState(prevState, prevDetail)
		default: // automatic: the suspicion's hold goes on
			m.setState(StateRefused, reason)
		}
		return errors.New(ev.Kind + " " + result + ": " + reason)
	}

	cands := m.readCandidates(ctx, snap, ev.OldPrimary)
	ordered, notes := pick(cands, old, nil, target)
	var chosen *candidate
	for i := range ordered {
		c := &ordered[i]
		if ev.At(PhaseCandidateChosen).IsZero() {
			ev.phase(PhaseCandidateChosen, m.now())
		}
		if err := m.applyReceived(ctx, c, set.catchup); err != nil {
			notes = append(notes, fmt.Sprintf("%s: %v", c.Server.Name, err))
			continue
		}
		chosen = c
		break
	}
	if chosen == nil {
		return fail(ResultRefused, "no safe candidate: "+strings.Join(notes, "; "))
	}
	ev.NewPrimary = chosen.Server.Name
	ev.phase(PhaseCaughtUp, m.now())
	if err := m.runHook(ctx, "pre_failover", set.cfg.Failover.Hooks.PreFailover, ev); err != nil {
		return fail(ResultAborted, err.Error())
	}

	// Fencing by role is immediate: this proxy never routes to old again.
	if old != nil {
		m.view.UpdateServer(old.Name, func(s *topology.Server) { s.Role = topology.RoleFenced })
		if old.Reachable { // a forced failover of a live primary: fence before promoting
			fctx, cancel := context.WithTimeout(ctx, time.Second)
			ev.Fence = m.fenceDB(fctx, old)
			cancel()
			fencedInDB = true
		}
	}
	ev.phase(PhaseFenced, m.now())

	semi := semiSyncInUse(snap)
	warnings, err := m.promoteAndRepoint(ctx, ev, chosen, cands, semi, nil)
	ev.Warnings = append(ev.Warnings, warnings...)
	if err != nil {
		return fail(ResultFailed, err.Error())
	}
	ev.Result = ResultSuccess
	m.mu.Lock()
	m.lastFailover = m.now()
	m.mu.Unlock()
	m.setState(StateHealthy, "")
	m.record(ev)
	m.afterwards(*ev, old, !fencedInDB, repointed(cands, chosen))
	return nil
}

// readCandidates reads every server's own state except exclude's, in
// parallel and bounded. Servers the view has as unreachable are tried too:
// one missed health check must not cost a candidate.
func (m *Manager) readCandidates(ctx context.Context, snap *topology.Snapshot, exclude string) []candidate {
	ctx, cancel := context.WithTimeout(ctx, 2*m.settings().timeout+dialTimeout)
	defer cancel()
	var out []candidate
	for _, s := range snap.Servers {
		if s.Name != exclude {
			out = append(out, candidate{Server: s})
		}
	}
	var wg sync.WaitGroup
	for i := range out {
		c := &out[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := m.db(&c.Server)
			if err == nil {
				c.State, err = readState(ctx, db)
			}
			c.Err = err
		}()
	}
	wg.Wait()
	return out
}

// pick ranks the candidates, keeps only target when one is named, and drops
// those with errant transactions. notes say why servers were left out.
// oldState is the old primary's fresh state when it is known (switchover).
func pick(cands []candidate, old *topology.Server, oldState *state, target string) ([]candidate, []string) {
	oldDC := ""
	var refsAll []gtid.Set
	if old != nil {
		oldDC = old.Datacenter
		refsAll = append(refsAll, old.GTID, old.GTIDBinlog)
	}
	if oldState != nil {
		refsAll = append(refsAll, oldState.Binlog)
	}
	ordered, skipped := rank(cands, oldDC)
	var notes []string
	if target != "" {
		var only []candidate
		for _, c := range ordered {
			if c.Server.Name == target {
				only = append(only, c)
			}
		}
		if len(only) == 0 {
			why, ok := skipped[target]
			if !ok {
				why = "not a server"
			}
			return nil, []string{fmt.Sprintf("%s: %s", target, why)}
		}
		ordered = only
	} else {
		for _, c := range cands {
			if why, ok := skipped[c.Server.Name]; ok {
				notes = append(notes, c.Server.Name+": "+why)
			}
		}
	}
	var safe []candidate
	for _, c := range ordered {
		refs := append([]gtid.Set(nil), refsAll...)
		for _, o := range cands {
			if o.Server.Name != c.Server.Name && o.Err == nil {
				refs = append(refs, o.State.Received, o.State.Binlog)
			}
		}
		if why := errant(c.State, refs); why != "" {
			notes = append(notes, c.Server.Name+": "+why)
			continue
		}
		safe = append(safe, c)
	}
	return safe, notes
}

// catchUp waits, bounded, until c has applied pos: a position that is
// complete on c's source (switchover), waited for in one round trip.
func (m *Manager) catchUp(ctx context.Context, c *candidate, pos gtid.Set, timeout time.Duration) error {
	if c.State.Applied.Contains(pos) {
		return nil
	}
	db, err := m.db(&c.Server)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout+dialTimeout)
	defer cancel()
	var res sql.NullInt64
	if err := db.QueryRowContext(ctx, waitSQL(c.State.Flavor), pos.String(), timeout.Seconds()).Scan(&res); err != nil {
		return fmt.Errorf("wait for %s: %w", pos, err)
	}
	if !res.Valid || res.Int64 != 0 {
		return fmt.Errorf("did not apply %s within %s", pos, timeout)
	}
	return nil
}

// applyReceived waits, bounded, until c has applied everything it received
// from its dead source. The last transaction received may be incomplete (the
// source died sending it): it can never be applied, so once the IO thread is
// down and the applier has read all the relay log, c is as caught up as it
// can be. An applier stopped by an operator is started; one stopped by an
// error makes c unsafe.
func (m *Manager) applyReceived(ctx context.Context, c *candidate, timeout time.Duration) error {
	db, err := m.db(&c.Server)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, started := c.State, false
	for {
		switch {
		case st.Applied.Contains(c.State.Received):
			return nil
		case !st.SQLRunning && st.ReplError != "":
			return fmt.Errorf("SQL thread stopped with unapplied transactions: %s", st.ReplError)
		case !st.SQLRunning && !started:
			if err := execAll(ctx, db, startSQLThreadSQL(st.Flavor)); err != nil {
				return err
			}
			started = true
		case st.SQLRunning && !st.IORunning && strings.Contains(st.SQLState, "read all relay log"):
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("did not apply %s within %s (applied %s)", c.State.Received, timeout, st.Applied)
		case <-time.After(10 * time.Millisecond):
		}
		if st, err = readState(ctx, db); err != nil {
			return fmt.Errorf("read state: %w", err)
		}
	}
}

// repointBound bounds repointing one replica, so an unresponsive one does
// not stall the others' phase.
const repointBound = 3 * time.Second

// promoteAndRepoint makes c writable, publishes it as the primary (writes
// resume), and points every other reachable replica at it in parallel.
// Writes resume right after the promotion, before the replicas are
// repointed, except with semi-synchronous replication: a semi-sync primary
// with no replica connected would stall every write for
// rpl_semi_sync_master_timeout. Nothing is repointed unless the promotion
// succeeded; a failed promotion restarts c's replication so the cluster is
// as it was.
func (m *Manager) promoteAndRepoint(ctx context.Context, ev *Event, c *candidate, cands []candidate, semi bool, oldRole *topology.Role) ([]string, error) {
	src, err := sourceFromAddr(c.Server.Addr, m.cfg.Load().Replication)
	if err != nil {
		return nil, err
	}
	pos, err := m.promote(ctx, c, semi)
	if err != nil {
		if db, derr := m.db(&c.Server); derr == nil {
			execAll(context.WithoutCancel(ctx), db, startReplicationSQL(c.State.Flavor))
		}
		return nil, fmt.Errorf("promote %s: %w", c.Server.Name, err)
	}
	ev.phase(PhasePromoted, m.now())
	resume := func() {
		m.publish(c.Server.Name, pos, oldRole)
		ev.phase(PhaseWritesResumed, m.now())
	}
	if !semi {
		resume()
	}
	targets := repointed(cands, c)
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, repointBound)
			defer cancel()
			errs[i] = m.repoint(rctx, &t.Server, t.State.Flavor, src, false, semi)
		}()
	}
	wg.Wait()
	var warnings []string
	for i, err := range errs {
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("repoint %s: %v", targets[i].Server.Name, err))
		}
	}
	ev.phase(PhaseReplicasRepointed, m.now())
	if semi {
		resume()
	}
	return warnings, nil
}

// repointed lists the replicas other than c, including those whose state
// could not be read (a slow answer is not a dead server; a dead one just
// fails to be repointed, and is when it returns, see rejoin).
func repointed(cands []candidate, c *candidate) []candidate {
	var out []candidate
	for _, o := range cands {
		if o.Server.Name != c.Server.Name && o.Server.Role == topology.RoleReplica {
			if o.Err != nil {
				o.State.Flavor = o.Server.Flavor
			}
			out = append(out, o)
		}
	}
	return out
}

// promote stops replication on c, clears it and makes c writable; it
// returns c's position, which is the new primary's history at promotion.
func (m *Manager) promote(ctx context.Context, c *candidate, semi bool) (gtid.Set, error) {
	db, err := m.db(&c.Server)
	if err != nil {
		return gtid.Set{}, err
	}
	if err := execAll(ctx, db, promoteSQL(c.State.Flavor, semi)...); err != nil {
		return gtid.Set{}, err
	}
	st, err := readState(ctx, db)
	if err != nil {
		return gtid.Set{}, err
	}
	return st.Current, nil
}

// repoint points srv at src and starts replication.
func (m *Manager) repoint(ctx context.Context, srv *topology.Server, f topology.Flavor, src source, formerPrimary, semi bool) error {
	db, err := m.db(srv)
	if err != nil {
		return err
	}
	return execAll(ctx, db, repointSQL(f, src, formerPrimary, semi)...)
}

// publish makes name the primary: new epoch, writes open. oldRole, when
// set, is the old primary's new role (switchover: replica).
func (m *Manager) publish(name string, pos gtid.Set, oldRole *topology.Role) {
	m.mu.Lock()
	m.promotedAt[name] = pos
	m.published = time.Now() // compared with health's CheckedAt, a wall-clock time
	m.mu.Unlock()
	m.view.Update(func(s *topology.Snapshot) {
		if old := s.Server(s.Primary); old != nil && oldRole != nil && s.Primary != name {
			old.Role = *oldRole
		}
		s.Primary = name
		s.Epoch++
		if p := s.Server(name); p != nil {
			p.Role = topology.RolePrimary
		}
		s.Gate, s.HoldUntil, s.Reason = topology.WritesOpen, time.Time{}, ""
	})
}

// semiSyncInUse reports whether the cluster runs semi-synchronous
// replication, so the new primary and the demoted one keep it.
func semiSyncInUse(snap *topology.Snapshot) bool {
	for _, s := range snap.Servers {
		if s.SemiSyncSource || s.SemiSyncReplica {
			return true
		}
	}
	return false
}

// verifyReplicating waits, bounded, until srv's replication threads both
// run. A source that lacks the GTIDs srv asks for (diverged history) is an
// error at once.
func (m *Manager) verifyReplicating(ctx context.Context, srv *topology.Server, bound time.Duration) error {
	db, err := m.db(srv)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	var last error
	for {
		st, err := readState(ctx, db)
		switch {
		case err != nil:
			last = err
		case st.IORunning && st.SQLRunning:
			return nil
		case st.IOErrno == errIOFatal:
			return errDiverged{st.ReplError}
		default:
			last = fmt.Errorf("replication not running: %s", orNone(st.ReplError))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not replicating within %s: %w", srv.Name, bound, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// errDiverged is the source refusing the replica's position.
type errDiverged struct{ msg string }

func (e errDiverged) Error() string { return "history diverged: " + e.msg }

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
