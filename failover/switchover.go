package failover

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchyard/switchyard/topology"
)

// drainPoll is how often switchover looks for running transactions.
const drainPoll = 5 * time.Millisecond

// Switchover moves the primary role to target ("" = the best candidate)
// while the old primary is healthy, without losing or failing a write:
// new writes are held; running transactions get failover.switchover_timeout
// to finish, then are killed (their clients see the error; the proxy's own
// sessions are not in transactions by then, since writes are held); the old
// primary is made read-only and, on MariaDB, where read_only does not stop
// users with READ_ONLY ADMIN, also globally read-locked, so its final GTID
// position cannot move; the candidate applies up to that position and is
// promoted, the other replicas are repointed, the held writes go to the new
// primary, and the old primary becomes its replica.
func (m *Manager) Switchover(ctx context.Context, target string) (Event, error) {
	m.op.Lock()
	defer m.op.Unlock()
	set := m.settings()
	snap := m.view.Load()
	ev := Event{Kind: KindSwitchover, Trigger: TriggerManual, OldPrimary: snap.Primary, Start: m.now()}
	end := func(result, reason string) (Event, error) {
		ev.Result, ev.Reason = result, reason
		m.record(&ev)
		return ev, errors.New("switchover " + result + ": " + reason)
	}
	p := snap.PrimaryServer()
	if p == nil || snap.Gate != topology.WritesOpen {
		return end(ResultRefused, "no healthy primary to switch over from (use FAILOVER)")
	}
	old := *p
	odb, err := m.db(&old)
	if err != nil {
		return end(ResultRefused, err.Error())
	}
	rctx, cancel := context.WithTimeout(ctx, 2*set.timeout+dialTimeout)
	ost, err := readState(rctx, odb)
	cancel()
	if err != nil {
		return end(ResultRefused, fmt.Sprintf("read %s: %v", old.Name, err))
	}
	cands := m.readCandidates(ctx, snap, old.Name)
	ordered, notes := pick(cands, &old, &ost, target)
	if len(ordered) == 0 {
		return end(ResultRefused, "no safe candidate: "+strings.Join(notes, "; "))
	}
	c := &ordered[0]
	ev.NewPrimary = c.Server.Name
	ev.phase(PhaseCandidateChosen, m.now())
	if err := m.runHook(ctx, "pre_failover", set.cfg.Failover.Hooks.PreFailover, &ev); err != nil {
		return end(ResultAborted, err.Error())
	}

	m.setGate(topology.WritesHeld, m.now().Add(set.maxHold), fmt.Sprintf("switchover from %s to %s in progress", old.Name, c.Server.Name))
	m.setState(StateSwitchover, old.Name+" to "+c.Server.Name)
	ev.phase(PhaseWritesHeld, m.now())

	var lock *sql.Conn // the read lock on the old primary, released at the end
	abort := func(reason string) (Event, error) {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if lock != nil {
			lock.ExecContext(actx, "UNLOCK TABLES")
			lock.Close()
		}
		if err := execAll(actx, odb, readOnlySQL(ost.Flavor, false)); err != nil {
			ev.Warnings = append(ev.Warnings, "old primary not made writable again: "+err.Error())
		}
		m.setGate(topology.WritesOpen, time.Time{}, "")
		m.setState(StateHealthy, "")
		return end(ResultAborted, reason)
	}

	started := m.now()
	if m.drainer != nil {
		dctx, cancel := context.WithTimeout(ctx, set.switchT)
		if err := m.drainer.Drain(dctx, old.Name); err != nil {
			m.log.Warn("switchover: proxy sessions still busy on the old primary", "server", old.Name, "err", err)
		}
		cancel()
	}
	remaining := m.drain(ctx, odb, max(set.switchT-m.now().Sub(started), drainPoll))
	if err := execAll(ctx, odb, readOnlySQL(ost.Flavor, true)); err != nil {
		return abort(err.Error())
	}
	fence := []string{"read_only set"}
	if remaining > 0 {
		open, err := openTransactions(ctx, odb, m.cfg.Load().Monitor.User)
		if err != nil {
			return abort(err.Error())
		}
		killed, err := killConns(ctx, odb, open)
		if err != nil {
			return abort(err.Error())
		}
		m.log.Warn("switchover: killed transactions still open after switchover_timeout", "server", old.Name, "timeout", set.switchT, "connections", killed)
		fence = append(fence, fmt.Sprintf("killed %d connections with transactions open after %s", len(killed), set.switchT))
	}
	if ost.Flavor == topology.FlavorMariaDB {
		if lock, err = m.readLock(ctx, odb); err != nil {
			return abort(err.Error())
		}
		fence = append(fence, "read lock held")
	}
	ev.Fence = strings.Join(fence, ", ")
	ev.phase(PhaseFenced, m.now())

	fst, err := readState(ctx, odb)
	if err != nil {
		return abort(fmt.Sprintf("read final position of %s: %v", old.Name, err))
	}
	if err := m.catchUp(ctx, c, fst.Binlog, set.catchup); err != nil {
		return abort(fmt.Sprintf("%s: %v", c.Server.Name, err))
	}
	ev.phase(PhaseCaughtUp, m.now())

	semi := semiSyncInUse(snap)
	replica := topology.RoleReplica
	warnings, err := m.promoteAndRepoint(ctx, &ev, c, cands, semi, &replica)
	ev.Warnings = append(ev.Warnings, warnings...)
	if err != nil {
		return abort(err.Error())
	}
	if lock != nil {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		if killed, err := killWhere(uctx, odb, lockWaiter); err != nil {
			ev.Warnings = append(ev.Warnings, "lock waiters not killed: "+err.Error())
		} else if len(killed) > 0 {
			m.log.Info("switchover: killed statements waiting to write on the old primary", "server", old.Name, "connections", killed)
		}
		lock.ExecContext(uctx, "UNLOCK TABLES")
		lock.Close()
		cancel()
	}
	ev.Result = ResultSuccess
	m.setState(StateHealthy, "")
	m.record(&ev)
	m.demoted(ev, &old, ost, c, semi, repointed(cands, c))
	return ev, nil
}

// drain waits, up to bound, until no transaction is open on the old
// primary; it returns how many still are. Transactions still open after a
// second are logged, so an operator sees what a switchover waits for.
func (m *Manager) drain(ctx context.Context, db *sql.DB, bound time.Duration) int {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	logAt := time.Now().Add(time.Second)
	monitor := m.cfg.Load().Monitor.User
	for {
		open, err := openTransactions(ctx, db, monitor)
		switch {
		case err == nil && len(open) == 0:
			return 0
		case err != nil && ctx.Err() != nil:
			return 1 // unknown: treat as still open
		case err == nil && !logAt.IsZero() && time.Now().After(logAt):
			logAt = time.Time{}
			var desc []string
			for _, c := range open {
				desc = append(desc, c.desc)
			}
			m.log.Info("switchover: waiting for transactions on the old primary", "open", len(open), "transactions", desc)
		}
		select {
		case <-ctx.Done():
			left, err := openTransactions(context.WithoutCancel(ctx), db, monitor)
			if err != nil {
				return 1
			}
			return len(left)
		case <-time.After(drainPoll):
		}
	}
}

// readLock takes FLUSH TABLES WITH READ LOCK on a connection of its own,
// which then holds the lock until released.
func (m *Manager) readLock(ctx context.Context, db *sql.DB) (*sql.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("read lock: %w", err)
	}
	return conn, nil
}

// demoted turns the old primary into a replica of the new one and checks
// that every replica follows, after writes resumed.
func (m *Manager) demoted(ev Event, old *topology.Server, ost state, c *candidate, semi bool, replicas []candidate) {
	set := m.settings()
	m.async.Add(1)
	go func() {
		defer m.async.Done()
		ctx, cancel := context.WithTimeout(context.Background(), set.hookTimeout+verifyBound)
		defer cancel()
		src, err := sourceFromAddr(c.Server.Addr, set.cfg.Replication)
		if err == nil {
			err = m.repoint(ctx, old, ost.Flavor, src, true, semi)
		}
		if err == nil {
			err = m.verifyReplicating(ctx, old, verifyBound)
		}
		if err != nil {
			m.log.Error("old primary does not replicate from the new one", "server", old.Name, "error", err)
			m.annotate(ev.ID, "", "old primary: "+err.Error())
		}
		for _, r := range replicas {
			if err := m.verifyReplicating(ctx, &r.Server, verifyBound); err != nil {
				m.annotate(ev.ID, "", err.Error())
			}
		}
		if err := m.runHook(ctx, "post_failover", set.cfg.Failover.Hooks.PostFailover, &ev); err != nil {
			m.annotate(ev.ID, "", err.Error())
		}
	}()
}
