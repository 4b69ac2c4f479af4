package failover

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/topology"
)

// clock is a settable Now for timing tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// deadPrimaryView is db1 (primary) failing checks, with db2 and db3
// replicas whose IO threads are still connected unless lost.
func deadPrimaryView(lost bool) *topology.View {
	v := topology.NewView([]topology.Server{
		{Name: "db1", Addr: "127.0.0.1:1", Role: topology.RolePrimary, FailedChecks: 5, LastError: "refused"},
		{Name: "db2", Addr: "127.0.0.1:2", Role: topology.RoleReplica, Reachable: true, IsReplica: true, IOThread: !lost, SQLThread: true},
		{Name: "db3", Addr: "127.0.0.1:3", Role: topology.RoleReplica, Reachable: true, IsReplica: true, IOThread: !lost, SQLThread: true},
	})
	v.Update(func(s *topology.Snapshot) { s.Primary, s.Epoch = "db1", 1 })
	return v
}

func unitManager(t *testing.T, v *topology.View, c *clock) *Manager {
	cfg := config.Default()
	cfg.Failover.MaxHold = config.Duration(10 * time.Second)
	cfg.Failover.AntiFlap = config.Duration(5 * time.Minute)
	return New(Options{Config: cfg, View: v, Now: c.now})
}

func TestAntiFlapHoldsThenBlocks(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	v := deadPrimaryView(true)
	m := unitManager(t, v, c)
	m.lastFailover = c.now().Add(-time.Minute)

	m.evaluate(context.Background())
	snap := v.Load()
	if snap.Gate != topology.WritesHeld || !snap.HoldUntil.Equal(c.now().Add(10*time.Second)) {
		t.Fatalf("gate %s until %v, want held for max_hold", snap.Gate, snap.HoldUntil)
	}
	if snap.Primary != "db1" {
		t.Errorf("primary changed to %q inside anti-flap", snap.Primary)
	}
	if st := m.State(); !strings.Contains(st, "anti-flap: last failover at 2026-01-01T11:59:00Z") {
		t.Errorf("State() = %q", st)
	}
	ev := m.Events()
	if len(ev) != 1 || ev[0].Result != ResultRefused || !strings.Contains(ev[0].Reason, "anti-flap") {
		t.Fatalf("events = %+v, want one refused anti-flap event", ev)
	}

	c.add(5 * time.Second)
	m.evaluate(context.Background())
	if g := v.Load().Gate; g != topology.WritesHeld {
		t.Errorf("gate %s before HoldUntil, want held", g)
	}
	c.add(6 * time.Second)
	m.evaluate(context.Background())
	snap = v.Load()
	if snap.Gate != topology.WritesBlocked || !strings.Contains(snap.Reason, "anti-flap") {
		t.Errorf("after HoldUntil: gate %s reason %q, want blocked with anti-flap", snap.Gate, snap.Reason)
	}
	if n := len(m.Events()); n != 1 {
		t.Errorf("%d events, want the refusal recorded once per episode", n)
	}

	// The primary comes back: writes resume without a failover.
	v.UpdateServer("db1", func(s *topology.Server) { s.Reachable, s.FailedChecks = true, 0 })
	m.evaluate(context.Background())
	snap = v.Load()
	if snap.Gate != topology.WritesOpen || snap.Reason != "" || snap.Primary != "db1" || snap.Epoch != 1 {
		t.Errorf("after recovery: %+v", snap)
	}
	if st := m.State(); st != StateHealthy {
		t.Errorf("State() = %q after recovery", st)
	}
}

func TestAntiFlapExpires(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	v := deadPrimaryView(false) // replicas still connected: partition, not anti-flap
	m := unitManager(t, v, c)
	m.lastFailover = c.now().Add(-5*time.Minute - time.Second)
	m.evaluate(context.Background())
	if st := m.State(); !strings.HasPrefix(st, StatePartitioned) {
		t.Errorf("State() = %q, want the anti-flap period over and a partition reported", st)
	}
}

func TestPartitionNoPromotion(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	v := deadPrimaryView(false)
	m := unitManager(t, v, c)
	m.evaluate(context.Background())
	if st := m.State(); !strings.HasPrefix(st, StatePartitioned) {
		t.Errorf("State() = %q", st)
	}
	c.add(11 * time.Second)
	m.evaluate(context.Background())
	snap := v.Load()
	if snap.Gate != topology.WritesBlocked || !strings.Contains(snap.Reason, "partitioned") || !strings.Contains(snap.Reason, "retry") {
		t.Errorf("gate %s reason %q, want blocked, partition, retryable", snap.Gate, snap.Reason)
	}
	if snap.Primary != "db1" || len(m.Events()) != 0 {
		t.Errorf("primary %q events %v: no failover expected", snap.Primary, m.Events())
	}
}

func TestBelowThresholdNotSuspect(t *testing.T) {
	c := &clock{t: time.Now()}
	v := deadPrimaryView(true)
	v.UpdateServer("db1", func(s *topology.Server) { s.FailedChecks = 2 })
	m := unitManager(t, v, c)
	m.evaluate(context.Background())
	if g := v.Load().Gate; g != topology.WritesOpen {
		t.Errorf("gate %s after 2 failed checks (threshold 3)", g)
	}
}

func TestDiscoverySplitBrain(t *testing.T) {
	c := &clock{t: time.Now()}
	v := topology.NewView([]topology.Server{
		{Name: "db1", Reachable: true},
		{Name: "db2", Reachable: true, ReadOnly: true, IsReplica: true},
		{Name: "db3", Reachable: true},
	})
	m := unitManager(t, v, c)
	m.evaluate(context.Background())
	snap := v.Load()
	if snap.Gate != topology.WritesBlocked || snap.Reason != "split brain: db1 and db3 are both writable" || snap.Primary != "" {
		t.Fatalf("gate %s reason %q primary %q", snap.Gate, snap.Reason, snap.Primary)
	}
	if st := m.State(); !strings.HasPrefix(st, StateSplitBrain) {
		t.Errorf("State() = %q", st)
	}
	// Resolved: db3 made read-only by an operator.
	v.UpdateServer("db3", func(s *topology.Server) { s.ReadOnly = true })
	c.add(time.Second)
	m.evaluate(context.Background())
	snap = v.Load()
	if snap.Primary != "db1" || snap.Gate != topology.WritesOpen || snap.Epoch != 1 {
		t.Errorf("after resolution: primary %q gate %s epoch %d", snap.Primary, snap.Gate, snap.Epoch)
	}
	if r := snap.Server("db2").Role; r != topology.RoleReplica {
		t.Errorf("db2 role %s", r)
	}
	if r := snap.Server("db3").Role; r != topology.RoleUnknown {
		t.Errorf("db3 (read-only, not replicating) role %s, want unknown", r)
	}
}

func TestEventDuration(t *testing.T) {
	t0 := time.Now()
	e := Event{Phases: []Phase{{PhaseSuspected, t0}, {PhaseWritesResumed, t0.Add(1500 * time.Millisecond)}}}
	if d := e.Duration(PhaseSuspected, PhaseWritesResumed); d != 1500*time.Millisecond {
		t.Errorf("Duration = %v", d)
	}
	if d := e.Duration(PhaseSuspected, PhasePromoted); d != 0 {
		t.Errorf("Duration to a missing phase = %v", d)
	}
}

func TestHistoryBounded(t *testing.T) {
	var h history
	for range historySize + 5 {
		h.add(Event{})
	}
	if len(h.events) != historySize || h.events[0].ID != 6 || h.events[historySize-1].ID != historySize+5 {
		t.Errorf("history holds %d events, first %d", len(h.events), h.events[0].ID)
	}
}

func TestManualFailoverRefusedKeepsWritesOpen(t *testing.T) {
	c := &clock{t: time.Now()}
	v := topology.NewView([]topology.Server{
		{Name: "db1", Addr: "127.0.0.1:1", Role: topology.RolePrimary, Reachable: true},
		{Name: "db2", Addr: "127.0.0.1:2", Role: topology.RoleReplica, Reachable: true, IsReplica: true},
	})
	v.Update(func(s *topology.Snapshot) { s.Primary, s.Epoch = "db1", 1 })
	m := unitManager(t, v, c)
	m.setState(StateHealthy, "")
	ev, err := m.Failover(context.Background(), "db2") // nothing listens on db2's port
	if err == nil || ev.Result != ResultRefused || !strings.Contains(ev.Reason, "db2: unreachable") {
		t.Fatalf("Failover = %+v, %v; want refused, db2 unreachable", ev, err)
	}
	snap := v.Load()
	if snap.Gate != topology.WritesOpen || snap.Primary != "db1" || snap.Epoch != 1 || snap.Server("db1").Role != topology.RolePrimary {
		t.Errorf("after a refused FAILOVER: gate %s primary %s epoch %d db1 %s", snap.Gate, snap.Primary, snap.Epoch, snap.Server("db1").Role)
	}
	if st := m.State(); st != StateHealthy {
		t.Errorf("State() = %q", st)
	}
	if ev := m.Events(); len(ev) != 1 || ev[0].Kind != KindFailover || ev[0].Trigger != TriggerManual {
		t.Errorf("events %+v", ev)
	}
}

func TestAdoptSettlesRoles(t *testing.T) {
	c := &clock{t: time.Now()}
	v := topology.NewView([]topology.Server{
		{Name: "db1", Addr: "127.0.0.1:1", Role: topology.RolePrimary, Reachable: true},
		{Name: "db2", Addr: "127.0.0.1:2", Reachable: true, ReadOnly: true, IsReplica: true, IOThread: true, SQLThread: true, SourceAddr: "127.0.0.1:1"},
		{Name: "db3", Addr: "127.0.0.1:3", Reachable: true},
		{Name: "db4", Addr: "127.0.0.1:4", Role: topology.RoleQuarantined, Reachable: true, ReadOnly: true, IsReplica: true, IOThread: true, SQLThread: true, SourceAddr: "127.0.0.1:1"},
		{Name: "db5", Addr: "127.0.0.1:5", Role: topology.RoleQuarantined, Reachable: true, ReadOnly: true, IsReplica: true, SourceAddr: "127.0.0.1:1"},
		{Name: "db6", Addr: "127.0.0.1:6", IsReplica: true, IOThread: true, SQLThread: true},
	})
	v.Update(func(s *topology.Snapshot) { s.Primary, s.Epoch = "db1", 1 })
	m := unitManager(t, v, c)
	m.evaluate(context.Background())
	snap := v.Load()
	want := map[string]topology.Role{
		"db2": topology.RoleReplica,     // replicates: a replica
		"db3": topology.RoleFenced,      // writable, not replicating: a stray old primary
		"db4": topology.RoleReplica,     // rebuilt, replicates from the primary
		"db5": topology.RoleQuarantined, // replication not running: stays out
		"db6": topology.RoleUnknown,     // unreachable
	}
	for n, r := range want {
		if got := snap.Server(n).Role; got != r {
			t.Errorf("%s role %s, want %s", n, got, r)
		}
	}
}
