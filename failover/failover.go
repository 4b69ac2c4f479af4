// Package failover decides who the primary is and changes it: discovery of
// the topology from the servers, detection of a failed primary (confirmed by
// the replicas), candidate choice, promotion, repointing, fencing, rejoin of
// a returning old primary, planned switchover and anti-flapping. It is the
// only writer of roles, the primary, the epoch and the write gate in the
// topology view.
package failover

import (
	"context"
	"database/sql"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/gtid"
	"github.com/switchyard/switchyard/topology"
)

// Checker refreshes one server's health observations now; *health.Monitor
// satisfies it.
type Checker interface {
	CheckNow(ctx context.Context, name string) error
}

// Fencer isolates a failed primary outside the database (e.g. stops its
// container). action describes what it did, for the event.
type Fencer interface {
	Fence(ctx context.Context, server string) (action string, err error)
}

// Drainer is the proxy as a switchover sees it: statements it already let
// through to the old primary must finish there before that primary's final
// position is read, and sessions inside a transaction there may finish it.
type Drainer interface {
	// Drain waits until the proxy runs no statement on server and no session
	// holds a transaction open there, or ctx ends.
	Drain(ctx context.Context, server string) error
}

// Options wires a Manager.
type Options struct {
	Config  *config.Config
	View    *topology.View
	Health  Checker // nil: decide from the view as it is
	Fencer  Fencer  // nil: no fencing beyond the database itself
	Drainer Drainer // nil: switchover drains by watching the old primary only
	Logger  *slog.Logger
	Now     func() time.Time // nil: time.Now
}

// States reported by State.
const (
	StateDiscovering = "discovering"
	StateHealthy     = "healthy"
	StateNoPrimary   = "no primary"
	StateSplitBrain  = "split brain"
	StateSuspect     = "primary suspect"
	StatePartitioned = "proxy partitioned from primary"
	StateFailover    = "failover in progress"
	StateSwitchover  = "switchover in progress"
	StateRefused     = "failover refused"
	StateFailed      = "failover failed"
)

// Manager runs detection and carries out failovers and switchovers.
type Manager struct {
	view    *topology.View
	health  Checker
	fencer  Fencer
	drainer Drainer
	log     *slog.Logger
	now     func() time.Time
	cfg     atomic.Pointer[config.Config]
	pools   pools
	async   sync.WaitGroup // fencing, hooks and verification after writes resumed

	// op serialises everything that changes servers: detection and rejoin
	// (from Run), Switchover and Failover (from the admin port).
	op sync.Mutex

	mu           sync.Mutex // guards the fields below
	state        string
	detail       string // why, for State
	hist         history
	lastFailover time.Time             // last successful failover, for anti-flap
	suspect      *suspicion            // the primary is failing checks
	promotedAt   map[string]gtid.Set   // new primary → its position when promoted
	rejoins      map[string]*rejoining // returning servers being re-attached
	published    time.Time             // when the primary last changed
	nextDiscover time.Time
	splitLogged  time.Time
}

// suspicion is one episode of the primary failing checks.
type suspicion struct {
	since       time.Time
	why         string // why no promotion (yet): the gate's reason once blocked
	nextAttempt time.Time
	refused     bool // a refused event was recorded for this episode
}

// New returns a Manager; call Run to start it.
func New(o Options) *Manager {
	m := &Manager{
		view:       o.View,
		health:     o.Health,
		fencer:     o.Fencer,
		drainer:    o.Drainer,
		log:        o.Logger,
		now:        o.Now,
		state:      StateDiscovering,
		promotedAt: map[string]gtid.Set{},
		rejoins:    map[string]*rejoining{},
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	m.log = m.log.With("component", "failover")
	if m.now == nil {
		m.now = time.Now
	}
	m.cfg.Store(o.Config)
	return m
}

// Reload applies a new configuration; operations in progress finish with the
// old one.
func (m *Manager) Reload(cfg *config.Config) { m.cfg.Store(cfg) }

// Run discovers the topology, then watches the view until ctx is done.
func (m *Manager) Run(ctx context.Context) {
	defer m.pools.closeAll()
	defer m.async.Wait()
	tick := time.NewTicker(m.settings().interval)
	defer tick.Stop()
	for {
		changed := m.view.Changed()
		m.evaluate(ctx)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-tick.C: // timers: the hold deadline, retries
		}
	}
}

// State describes the cluster for admin and metrics, e.g. "healthy",
// "primary suspect", "proxy partitioned from primary: ...".
func (m *Manager) State() string {
	m.mu.Lock()
	s, d := m.state, m.detail
	m.mu.Unlock()
	var q []string
	for _, srv := range m.view.Load().Servers {
		if srv.Role == topology.RoleQuarantined {
			q = append(q, srv.Name)
		}
	}
	if len(q) > 0 {
		d = strings.TrimPrefix(d+"; quarantined: "+strings.Join(q, ", "), "; ")
	}
	if d != "" {
		return s + ": " + d
	}
	return s
}

// Events returns the event history, newest last.
func (m *Manager) Events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Event, len(m.hist.events))
	for i, e := range m.hist.events {
		e.Phases = append([]Phase(nil), e.Phases...)
		e.Warnings = append([]string(nil), e.Warnings...)
		out[i] = e
	}
	return out
}

func (m *Manager) setState(state, detail string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state, m.detail = state, detail
}

// record adds a finished event to the history and logs it.
func (m *Manager) record(e *Event) {
	e.End = m.now()
	m.mu.Lock()
	e.ID = m.hist.add(*e)
	m.mu.Unlock()
	level := slog.LevelInfo
	if e.Result != ResultSuccess {
		level = slog.LevelError
	}
	m.log.Log(context.Background(), level, e.Kind+" "+e.Result, e.logAttrs()...)
}

// annotate adds what asynchronous work found to a recorded event.
func (m *Manager) annotate(id int, fence, warning string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hist.update(id, func(e *Event) {
		if fence != "" {
			e.Fence = strings.TrimPrefix(e.Fence+"; "+fence, "; ")
		}
		if warning != "" {
			e.Warnings = append(e.Warnings, warning)
		}
	})
}

// setGate changes the write gate; until matters with WritesHeld.
func (m *Manager) setGate(g topology.WriteGate, until time.Time, reason string) {
	m.view.Update(func(s *topology.Snapshot) {
		s.Gate, s.HoldUntil, s.Reason = g, until, reason
	})
}

// settings are the effective failover settings, defaults for zero values.
type settings struct {
	cfg                                 *config.Config
	interval, timeout                   time.Duration // health checks
	threshold                           int
	maxHold, antiFlap, catchup, switchT time.Duration
	hookTimeout                         time.Duration
}

func (m *Manager) settings() settings {
	cfg := m.cfg.Load()
	d := config.Default()
	or := func(v, def config.Duration) time.Duration {
		if v > 0 {
			return v.D()
		}
		return def.D()
	}
	s := settings{
		cfg:         cfg,
		interval:    or(cfg.Health.Interval, d.Health.Interval),
		timeout:     or(cfg.Health.Timeout, d.Health.Timeout),
		threshold:   cfg.Failover.DetectionThreshold,
		maxHold:     or(cfg.Failover.MaxHold, d.Failover.MaxHold),
		antiFlap:    or(cfg.Failover.AntiFlap, d.Failover.AntiFlap),
		catchup:     or(cfg.Failover.CatchupTimeout, d.Failover.CatchupTimeout),
		switchT:     or(cfg.Failover.SwitchoverTimeout, d.Failover.SwitchoverTimeout),
		hookTimeout: or(cfg.Failover.Hooks.Timeout, d.Failover.Hooks.Timeout),
	}
	if s.threshold <= 0 {
		s.threshold = d.Failover.DetectionThreshold
	}
	return s
}

// db returns the monitor-user pool for a server of the snapshot.
func (m *Manager) db(srv *topology.Server) (*sql.DB, error) {
	return m.pools.get(srv.Name, srv.Addr, m.cfg.Load().Monitor)
}

// checkAll refreshes the health observations of the named servers in
// parallel, bounded by two check timeouts.
func (m *Manager) checkAll(ctx context.Context, names []string) {
	if m.health == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*m.settings().timeout+dialTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.health.CheckNow(ctx, n) // the outcome is in the view
		}()
	}
	wg.Wait()
}

// andList renders "a", "a and b", "a, b and c".
func andList(names []string) string {
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
