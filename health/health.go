// Package health watches every server: one monitor goroutine per server reads
// reachability, read_only, replication threads, GTID positions and semi-sync
// state in one round trip per check, measures replica lag in milliseconds
// from a heartbeat written on the primary, and publishes what it sees into
// the topology view. It decides nothing: roles, the primary and the write
// gate belong to failover.
package health

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/topology"
)

// refreshEvery bounds how stale a published CheckedAt may get. Checks that
// observe no change are not published, so an idle cluster does not churn
// snapshots (and wake every View.Changed waiter) several times a second per
// server; a reader can still tell a live monitor from a stuck one.
const refreshEvery = time.Second

// Monitor runs the per-server monitors and the heartbeat writer.
type Monitor struct {
	view  *topology.View
	log   *slog.Logger
	set   atomic.Pointer[settings]
	beats heartbeats

	mu      sync.Mutex
	servers map[string]*server
	runCtx  context.Context // nil until Run
	wg      sync.WaitGroup
}

// server is one monitored server.
type server struct {
	name     string
	cfgState string // servers[].state as last configured

	mu          sync.Mutex // serialises checks: the loop and CheckNow
	addr        string
	conn        conn
	obs         topology.Server // health fields of the latest observation
	publishedAt time.Time

	stop context.CancelFunc // nil while not running
	done chan struct{}
}

// ServerFromConfig builds a server's initial view entry: configured fields
// set, never checked, so unreachable with unknown lag.
func ServerFromConfig(s config.Server) topology.Server {
	admin, _ := topology.ParseAdminState(s.State) // validated with the config
	return topology.Server{
		Name:       s.Name,
		Addr:       s.Address,
		Datacenter: s.Datacenter,
		Promotion:  s.Promotion,
		Weight:     s.Weight,
		Admin:      admin,
		LagMs:      -1,
	}
}

// New returns a monitor for cfg's servers. view should already hold one
// entry per configured server (see ServerFromConfig); missing ones are added.
func New(cfg *config.Config, view *topology.View, log *slog.Logger) *Monitor {
	m := &Monitor{view: view, log: log.With("component", "health"), servers: map[string]*server{}}
	m.set.Store(settingsFrom(cfg))
	for _, s := range cfg.Servers {
		m.AddServer(s)
	}
	return m
}

func (m *Monitor) settings() *settings { return m.set.Load() }

// Run checks every server at health.interval and writes the heartbeat until
// ctx is done, then returns once every goroutine has stopped. Call it once.
func (m *Monitor) Run(ctx context.Context) {
	m.mu.Lock()
	m.runCtx = ctx
	for _, s := range m.servers {
		m.start(s)
	}
	m.wg.Add(1)
	go m.writeHeartbeats(ctx)
	m.mu.Unlock()

	<-ctx.Done()
	m.mu.Lock()
	m.runCtx = nil // AddServer starts no more goroutines
	m.mu.Unlock()
	m.wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.servers {
		s.stop = nil
		s.mu.Lock()
		s.conn.close()
		s.mu.Unlock()
	}
}

// start launches s's monitor goroutine; m.mu is held.
func (m *Monitor) start(s *server) {
	ctx, cancel := context.WithCancel(m.runCtx)
	s.stop, s.done = cancel, make(chan struct{})
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(s.done)
		m.loop(ctx, s)
	}()
}

func (m *Monitor) loop(ctx context.Context, s *server) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		m.check(ctx, s) // the outcome is published; errors are in LastError
		t.Reset(max(m.settings().interval-time.Since(start), 0))
	}
}

// Reload applies new interval, timeout, lag and heartbeat settings and
// monitor credentials (connections reopen at their next check), starts
// monitors for added servers and stops those of removed ones, removing them
// from the view (the current primary is never removed: switch over first).
func (m *Monitor) Reload(cfg *config.Config) {
	m.set.Store(settingsFrom(cfg))
	keep := map[string]bool{}
	for _, s := range cfg.Servers {
		keep[s.Name] = true
		m.AddServer(s)
	}
	m.mu.Lock()
	var gone []string
	for name := range m.servers {
		if !keep[name] {
			gone = append(gone, name)
		}
	}
	m.mu.Unlock()
	for _, name := range gone {
		m.RemoveServer(name)
	}
}

// AddServer starts monitoring s (if Run is running) and adds it to the view.
// For a server already monitored it updates the configured fields; a new
// address is used from the next check.
func (m *Monitor) AddServer(s config.Server) {
	// A configured state applies when it changes; otherwise SET SERVER's
	// runtime state stands across reloads.
	m.mu.Lock()
	srv, known := m.servers[s.Name]
	stateChanged := known && srv.cfgState != s.State
	if known {
		srv.cfgState = s.State
	}
	m.mu.Unlock()
	if cur := m.view.Load().Server(s.Name); cur == nil || cur.Addr != s.Address || stateChanged ||
		cur.Datacenter != s.Datacenter || cur.Promotion != s.Promotion || cur.Weight != s.Weight {
		m.view.Update(func(snap *topology.Snapshot) {
			if cur := snap.Server(s.Name); cur != nil {
				cur.Addr, cur.Datacenter, cur.Promotion, cur.Weight = s.Address, s.Datacenter, s.Promotion, s.Weight
				if stateChanged {
					cur.Admin, _ = topology.ParseAdminState(s.State)
				}
				return
			}
			snap.Servers = append(snap.Servers, ServerFromConfig(s))
		})
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if srv, ok := m.servers[s.Name]; ok {
		srv.mu.Lock()
		srv.addr = s.Address
		srv.mu.Unlock()
		return
	}
	srv = &server{name: s.Name, addr: s.Address, obs: ServerFromConfig(s), cfgState: s.State}
	m.servers[s.Name] = srv
	m.log.Info("monitoring server", "server", s.Name, "addr", s.Address)
	if m.runCtx != nil {
		m.start(srv)
	}
}

// RemoveServer stops monitoring the named server and removes it from the
// view. The current primary is refused (and keeps being monitored): routing
// and failover need it until a switchover moves the role away.
func (m *Monitor) RemoveServer(name string) {
	if m.view.Load().Primary == name {
		m.log.Error("not removing the current primary; switch over first", "server", name)
		return
	}
	m.mu.Lock()
	s, ok := m.servers[name]
	delete(m.servers, name)
	var stop context.CancelFunc
	if ok {
		stop = s.stop
	}
	m.mu.Unlock()
	if !ok {
		return
	}
	if stop != nil {
		stop()
		<-s.done
	}
	s.mu.Lock()
	s.conn.close()
	s.mu.Unlock()
	m.view.Update(func(snap *topology.Snapshot) {
		for i := range snap.Servers {
			if snap.Servers[i].Name == name {
				snap.Servers = append(snap.Servers[:i], snap.Servers[i+1:]...)
				return
			}
		}
	})
	m.log.Info("stopped monitoring server", "server", name)
}

// CheckNow checks the named server at once and publishes the result before
// returning. The error is the check's failure, if any.
func (m *Monitor) CheckNow(ctx context.Context, name string) error {
	m.mu.Lock()
	s, ok := m.servers[name]
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("health: no server %q", name)
	}
	return m.check(ctx, s)
}

// check probes s once and publishes the observation.
func (m *Monitor) check(ctx context.Context, s *server) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := m.settings()
	cctx, cancel := context.WithTimeout(ctx, set.timeout)
	defer cancel()

	p, err := s.probe(cctx, set, m.log)
	if ctx.Err() != nil {
		return ctx.Err() // shutting down or the caller gave up: not the server's fault
	}
	obs := s.obs
	obs.CheckedAt = time.Now()
	if err != nil {
		err = fmt.Errorf("health: %s (%s): %w", s.name, s.addr, err)
		obs.Reachable = false
		obs.FailedChecks++
		obs.LastError = err.Error()
		obs.LagMs, obs.LagEligible = -1, false
	} else {
		m.observe(&obs, p, &s.conn, set)
	}
	m.publish(s, obs)
	return err
}

// probe runs one check on s's connection, reconnecting when needed.
func (s *server) probe(ctx context.Context, set *settings, log *slog.Logger) (*probe, error) {
	if err := s.conn.ensure(ctx, set.connKey(s.addr), log); err != nil {
		return nil, err
	}
	p, err := s.conn.probe(ctx, set.heartbeatTable)
	if err != nil {
		s.conn.reset()
	}
	return p, err
}

// observe turns a successful probe into the published health fields.
func (m *Monitor) observe(obs *topology.Server, p *probe, c *conn, set *settings) {
	snap := m.view.Load()
	obs.Reachable, obs.FailedChecks, obs.LastError = true, 0, ""
	obs.Flavor, obs.Version = c.flavor, c.version
	obs.ServerID, obs.ReadOnly = p.serverID, p.readOnly
	obs.GTID, obs.GTIDBinlog = p.gtid, p.gtidBinlog
	obs.SemiSyncSource, obs.SemiSyncReplica = p.semiSource, p.semiReplica
	obs.IsReplica = p.replica != nil
	obs.SourceAddr, obs.IOThread, obs.SQLThread, obs.ReplError = "", false, false, ""
	if r := p.replica; r != nil {
		obs.SourceAddr, obs.IOThread, obs.SQLThread, obs.ReplError = r.sourceAddr, r.io(), r.sql(), r.errText()
	}
	isPrimary := snap.Primary == obs.Name
	if ts, ok := p.beats[p.serverID]; ok && isPrimary {
		m.beats.record(p.serverID, ts, p.sentAt, false)
	}
	obs.LagMs = m.lagMs(snap, isPrimary, p, set)
	obs.LagEligible = eligible(obs.LagEligible, obs.LagMs, set.maxLag, set.hysteresis)
}

// lagMs decides a reachable server's replica lag. Broken replication (an
// IO thread not running, a thread stopped by an error, no source at all) is
// -1, never 0. A SQL thread stopped on purpose (STOP SLAVE SQL_THREAD) while
// the IO thread runs is not broken: its heartbeat ages, so lag grows and the
// replica leaves the read pool once past the limit.
func (m *Monitor) lagMs(snap *topology.Snapshot, isPrimary bool, p *probe, set *settings) int64 {
	r := p.replica
	switch {
	case isPrimary:
		return 0
	case r == nil, r.sqlErrno != 0 && !r.sql(), r.ioRunning == "No":
		return -1
	}
	// The heartbeat compares what the replica applied with what the primary
	// wrote, so it stays true while the IO thread is reconnecting: with the
	// primary alive and writing, the lag grows; with the primary dead, nothing
	// newer exists, and a replica holding the last heartbeat keeps serving
	// reads through the failover instead of leaving the pool.
	if primary := snap.PrimaryServer(); primary != nil {
		if ts, ok := p.beats[primary.ServerID]; ok {
			stale := set.heartbeatStale()
			if !primary.Reachable {
				stale = math.MaxInt64 // no new heartbeat can be written: the last one is the newest
			}
			if ms, ok := m.beats.lag(primary.ServerID, ts, time.Now(), stale); ok {
				return ms
			}
		}
	}
	if !r.io() || !r.sql() || !r.behind.Valid {
		return -1
	}
	return r.behind.Int64 * 1000
}

// publish updates the view when the observation changed (or CheckedAt is
// due for a refresh) and logs state transitions.
func (m *Monitor) publish(s *server, obs topology.Server) {
	prev := s.obs
	s.obs = obs
	m.logTransitions(&prev, &obs)
	if !sameHealth(&prev, &obs) || obs.CheckedAt.Sub(s.publishedAt) >= refreshEvery {
		m.view.UpdateServer(s.name, func(dst *topology.Server) { setHealth(dst, &obs) })
		s.publishedAt = obs.CheckedAt
	}
}

func (m *Monitor) logTransitions(prev, cur *topology.Server) {
	log := m.log.With("server", cur.Name)
	switch {
	case cur.Reachable && !prev.Reachable:
		log.Info("server reachable", "version", cur.Version, "server_id", cur.ServerID, "read_only", cur.ReadOnly)
	case !cur.Reachable && (prev.Reachable || prev.CheckedAt.IsZero()):
		log.Warn("server unreachable", "err", cur.LastError)
	}
	if !cur.Reachable {
		return
	}
	if cur.IOThread != prev.IOThread || cur.SQLThread != prev.SQLThread || cur.ReplError != prev.ReplError {
		log.Info("replication state", "io_thread", cur.IOThread, "sql_thread", cur.SQLThread, "source", cur.SourceAddr, "error", cur.ReplError)
	}
	if cur.ReadOnly != prev.ReadOnly && prev.Reachable {
		log.Info("read_only changed", "read_only", cur.ReadOnly)
	}
	if cur.LagEligible != prev.LagEligible {
		log.Info("lag eligibility", "eligible", cur.LagEligible, "lag_ms", cur.LagMs)
	}
}

// setHealth copies the fields health owns; configuration, roles and admin
// state are left as they are in dst.
func setHealth(dst, src *topology.Server) {
	dst.Reachable, dst.CheckedAt, dst.FailedChecks, dst.LastError = src.Reachable, src.CheckedAt, src.FailedChecks, src.LastError
	dst.Flavor, dst.Version, dst.ServerID, dst.ReadOnly = src.Flavor, src.Version, src.ServerID, src.ReadOnly
	dst.IsReplica, dst.SourceAddr, dst.IOThread, dst.SQLThread, dst.ReplError = src.IsReplica, src.SourceAddr, src.IOThread, src.SQLThread, src.ReplError
	dst.LagMs, dst.LagEligible = src.LagMs, src.LagEligible
	dst.GTID, dst.GTIDBinlog = src.GTID, src.GTIDBinlog
	dst.SemiSyncSource, dst.SemiSyncReplica = src.SemiSyncSource, src.SemiSyncReplica
}

// sameHealth reports whether two observations differ in nothing but CheckedAt.
func sameHealth(a, b *topology.Server) bool {
	x, y := topology.Server{}, topology.Server{}
	setHealth(&x, a)
	setHealth(&y, b)
	x.CheckedAt, y.CheckedAt = time.Time{}, time.Time{}
	return reflect.DeepEqual(x, y)
}
