package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/proxy/wire"
	"github.com/switchyard/switchyard/topology"
)

// PoolInfo describes one backend pool, for SHOW POOLS and metrics.
type PoolInfo struct {
	Server        string
	User          string
	Caps          uint32 // the capability bits of this pool's connections (see poolKey)
	Idle          int
	InUse         int
	Max           int
	Waiting       int
	WaitsTotal    int64
	TimeoutsTotal int64
	ConnectsTotal int64
	ErrorsTotal   int64
	QueriesTotal  int64 // statements run on this pool's connections
}

// keyCaps are the client capabilities that change packet formats or
// semantics for the whole connection and cannot be switched later, so
// backends are pooled by them.
const keyCaps = wire.ClientDeprecateEOF | wire.ClientFoundRows | wire.ClientLocalFiles

// backendCaps are always requested from backends.
const backendCaps = wire.ClientLongPassword | wire.ClientLongFlag | wire.ClientProtocol41 |
	wire.ClientTransactions | wire.ClientSecureConnection | wire.ClientMultiResults |
	wire.ClientPSMultiResults | wire.ClientPluginAuth | wire.ClientPluginAuthLenencData |
	wire.ClientSessionTrack

// poolKey identifies a pool: backends in one pool are interchangeable up to
// session state.
type poolKey struct {
	server  string
	user    string
	caps    uint32 // client caps & keyCaps
	charset uint8  // handshake collation id
}

// defaultKey is the capability set pre-warmed for every (server, user): what
// go-sql-driver/mysql negotiates.
var defaultKey = poolKey{caps: wire.ClientDeprecateEOF | wire.ClientLocalFiles, charset: wire.CharsetUTF8MB4GeneralCI}

var (
	errPoolClosed = errors.New("pool closed")
)

// poolExhausted is the error for a borrow that waited wait_timeout in vain.
type poolExhausted struct {
	server string
	busy   int
	waited time.Duration
}

func (e *poolExhausted) Error() string {
	return fmt.Sprintf("switchyard: pool for %s exhausted (%d connections busy, waited %s)", e.server, e.busy, e.waited)
}

// poolSet holds every pool and the per-server in-flight counters.
type poolSet struct {
	log *slog.Logger
	tls *tls.Config // for backends; ServerName is set per server

	mu       sync.Mutex
	pools    map[poolKey]*pool
	servers  map[string]*serverEntry
	byName   atomic.Pointer[map[string]*serverEntry] // copy of servers for lock-free Outstanding
	version  atomic.Pointer[string]                  // a backend's version, advertised to clients
	users    map[string]config.User
	settings poolSettings
	started  bool
	closed   bool
	stop     chan struct{}
	stopped  chan struct{}
}

// poolSettings are the pool section of the configuration, in the form pools use.
type poolSettings struct {
	minIdle, max, maxPrepared int
	wait, maxIdle             time.Duration
}

// serverEntry is one configured server as pools see it.
type serverEntry struct {
	name     string
	addr     string
	inflight atomic.Int64
	removed  atomic.Bool
}

func newPoolSet(log *slog.Logger, tc *tls.Config) *poolSet {
	return &poolSet{
		log:     log,
		tls:     tc,
		pools:   make(map[poolKey]*pool),
		servers: make(map[string]*serverEntry),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
}

// configure applies pool settings, users and servers. Pools of removed servers
// (or servers whose address changed) close: idle connections now, busy ones
// when they are released.
func (ps *poolSet) configure(cfg *config.Config, users map[string]config.User) {
	st := poolSettings{
		minIdle:     cfg.Pool.MinIdle,
		max:         cfg.Pool.MaxPerServer,
		maxPrepared: cfg.Pool.MaxPreparedPerConn,
		wait:        cfg.Pool.WaitTimeout.D(),
		maxIdle:     cfg.Pool.MaxIdleTime.D(),
	}
	if st.max <= 0 {
		st.max = 200
	}
	if st.wait <= 0 {
		st.wait = 5 * time.Second
	}
	if st.maxPrepared <= 0 {
		st.maxPrepared = 256
	}
	if st.maxIdle <= 0 {
		st.maxIdle = time.Minute
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.settings = st
	ps.users = users
	keep := make(map[string]*serverEntry, len(cfg.Servers))
	for _, sc := range cfg.Servers {
		if e, ok := ps.servers[sc.Name]; ok && e.addr == sc.Address {
			keep[sc.Name] = e
			continue
		}
		keep[sc.Name] = &serverEntry{name: sc.Name, addr: sc.Address}
	}
	for k, p := range ps.pools {
		u, userOK := users[k.user]
		if keep[k.server] != p.srv || !userOK {
			delete(ps.pools, k)
			p.close()
			continue
		}
		p.mu.Lock()
		p.password = u.Password
		p.settings = st
		p.mu.Unlock()
	}
	for name, e := range ps.servers {
		if keep[name] != e {
			e.removed.Store(true)
		}
	}
	ps.servers = keep
	ps.byName.Store(&keep)
}

// get returns the pool for key, creating it. It returns nil for an unknown
// server or user.
func (ps *poolSet) get(key poolKey) *pool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if p := ps.pools[key]; p != nil {
		return p
	}
	srv := ps.servers[key.server]
	u, ok := ps.users[key.user]
	if srv == nil || !ok {
		return nil
	}
	p := &pool{set: ps, key: key, srv: srv, password: u.Password, settings: ps.settings}
	ps.pools[key] = p
	return p
}

func (ps *poolSet) outstanding(server string) int {
	m := ps.byName.Load()
	if m == nil {
		return 0
	}
	e := (*m)[server]
	if e == nil {
		return 0
	}
	return int(e.inflight.Load())
}

// start launches the maintenance loop (pre-warming, idle trimming, closing
// pools of fenced servers) once.
func (ps *poolSet) start(view *topology.View) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.started {
		return
	}
	ps.started = true
	go ps.maintain(view)
}

func (ps *poolSet) maintain(view *topology.View) {
	defer close(ps.stopped)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		ps.tend(view.Load())
		select {
		case <-ps.stop:
			return
		case <-tick.C:
		case <-view.Changed():
		}
	}
}

// tend runs one maintenance pass.
func (ps *poolSet) tend(snap *topology.Snapshot) {
	ps.mu.Lock()
	// Pre-warm the common capability set for every server and user.
	for name := range ps.servers {
		if srv := snap.Server(name); srv != nil && (srv.Role == topology.RoleFenced || srv.Role == topology.RoleQuarantined) {
			continue // never routed to: no pool to warm
		}
		for user := range ps.users {
			k := defaultKey
			k.server, k.user = name, user
			if ps.pools[k] == nil {
				srv := ps.servers[name]
				ps.pools[k] = &pool{set: ps, key: k, srv: srv, password: ps.users[user].Password, settings: ps.settings}
			}
		}
	}
	pools := make([]*pool, 0, len(ps.pools))
	for k, p := range ps.pools {
		srv := snap.Server(k.server)
		if srv != nil && (srv.Role == topology.RoleFenced || srv.Role == topology.RoleQuarantined) {
			delete(ps.pools, k)
			p.close()
			ps.log.Info("closed pool of fenced server", "server", k.server, "user", k.user, "role", srv.Role.String())
			continue
		}
		pools = append(pools, p)
	}
	ps.mu.Unlock()
	now := time.Now()
	for _, p := range pools {
		p.trim(now)
		srv := snap.Server(p.key.server)
		if srv != nil && srv.Reachable && srv.Admin == topology.AdminOnline {
			p.warm()
		}
	}
}

func (ps *poolSet) close() {
	ps.mu.Lock()
	if ps.closed {
		ps.mu.Unlock()
		return
	}
	ps.closed = true
	if ps.started {
		close(ps.stop)
	}
	started := ps.started
	ps.started = true // a later start must not run
	pools := ps.pools
	ps.pools = map[poolKey]*pool{}
	ps.mu.Unlock()
	if started {
		<-ps.stopped
	}
	for _, p := range pools {
		p.close()
	}
}

func (ps *poolSet) info() []PoolInfo {
	ps.mu.Lock()
	out := make([]PoolInfo, 0, len(ps.pools))
	for _, p := range ps.pools {
		out = append(out, p.info())
	}
	ps.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Server != b.Server {
			return a.Server < b.Server
		}
		if a.User != b.User {
			return a.User < b.User
		}
		return a.Caps < b.Caps
	})
	return out
}

// pool is the set of interchangeable backend connections for one key. Idle
// connections form a LIFO stack so the hottest connection is reused; waiters
// are served first-in first-out.
type pool struct {
	set *poolSet
	key poolKey
	srv *serverEntry

	mu       sync.Mutex
	idle     []*backend // oldest first
	open     int        // idle + in use + being dialled
	waiters  []chan *backend
	password string
	settings poolSettings
	closed   bool
	dead     atomic.Bool // closed, readable without mu
	warming  bool
	baseSet  string // SET NAMES statement restoring this pool's handshake charset, once known

	waits, timeouts, connects, errs atomic.Int64
	queries                         atomic.Int64 // statements run on this pool's connections
}

// borrow returns a live connection, preferring prefer when it is idle here
// (so a session keeps landing on the connection that already has its state).
func (p *pool) borrow(ctx context.Context, prefer *backend) (*backend, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, errPoolClosed
		}
		var b *backend
		if n := len(p.idle); n > 0 {
			i := n - 1
			if prefer != nil && prefer.pool == p {
				for j := n - 1; j >= 0; j-- {
					if p.idle[j] == prefer {
						i = j
						break
					}
				}
			}
			b = p.idle[i]
			copy(p.idle[i:], p.idle[i+1:])
			p.idle[n-1] = nil
			p.idle = p.idle[:n-1]
		}
		if b != nil {
			p.mu.Unlock()
			if b.alive() {
				return b, nil
			}
			p.set.log.Debug("discarding dead idle backend connection", "server", p.key.server, "thread", b.threadID)
			p.release(b, false)
			continue
		}
		if p.open < p.settings.max {
			p.open++
			p.mu.Unlock()
			return p.dialSlot(ctx)
		}
		ch := make(chan *backend, 1)
		p.waiters = append(p.waiters, ch)
		wait, busy := p.settings.wait, p.open
		p.mu.Unlock()
		p.waits.Add(1)
		b, err := p.await(ctx, ch, wait, busy)
		if err != nil {
			return nil, err
		}
		if b == nil { // a slot was handed over: dial into it
			return p.dialSlot(ctx)
		}
		if b.alive() {
			return b, nil
		}
		p.release(b, false)
	}
}

func (p *pool) await(ctx context.Context, ch chan *backend, wait time.Duration, busy int) (*backend, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	var err error
	select {
	case b := <-ch:
		return b, nil
	case <-t.C:
		p.timeouts.Add(1)
		err = &poolExhausted{server: p.key.server, busy: busy, waited: wait}
	case <-ctx.Done():
		err = ctx.Err()
	}
	p.mu.Lock()
	for i, w := range p.waiters {
		if w == ch {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			p.mu.Unlock()
			return nil, err
		}
	}
	p.mu.Unlock()
	// Served while giving up: pass it on rather than leak it.
	if b := <-ch; b != nil {
		p.release(b, true)
	} else {
		p.slotFreed()
	}
	return nil, err
}

// idleHas reports whether b is idle in p.
func (p *pool) idleHas(b *backend) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.idle) - 1; i >= 0; i-- {
		if p.idle[i] == b {
			return true
		}
	}
	return false
}

// dialSlot opens a connection in a slot already counted in open.
func (p *pool) dialSlot(ctx context.Context) (*backend, error) {
	p.mu.Lock()
	password, settings, closed := p.password, p.settings, p.closed
	p.mu.Unlock()
	if closed {
		p.slotFreed()
		return nil, errPoolClosed
	}
	b, err := dialBackend(ctx, p, password, settings.maxPrepared)
	if err != nil {
		p.errs.Add(1)
		p.slotFreed()
		return nil, err
	}
	p.connects.Add(1)
	return b, nil
}

// slotFreed gives an open slot to the first waiter or forgets it.
func (p *pool) slotFreed() {
	p.mu.Lock()
	if len(p.waiters) > 0 && !p.closed {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		w <- nil
		return
	}
	p.open--
	p.mu.Unlock()
}

// release returns a borrowed connection. Broken connections, and every
// connection of a closed pool, are closed.
func (p *pool) release(b *backend, reusable bool) {
	if !reusable || b.broken {
		b.close()
		p.slotFreed()
		return
	}
	p.mu.Lock()
	if p.closed {
		p.open--
		p.mu.Unlock()
		b.close()
		return
	}
	if len(p.waiters) > 0 {
		w := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		w <- b
		return
	}
	b.lastUsed = time.Now()
	p.idle = append(p.idle, b)
	p.mu.Unlock()
}

// trim closes idle connections above min_idle unused for max_idle_time.
func (p *pool) trim(now time.Time) {
	var victims []*backend
	p.mu.Lock()
	for len(p.idle) > p.settings.minIdle && now.Sub(p.idle[0].lastUsed) > p.settings.maxIdle {
		victims = append(victims, p.idle[0])
		p.idle = p.idle[1:]
		p.open--
	}
	p.mu.Unlock()
	for _, b := range victims {
		b.close()
	}
}

// warm opens connections in the background until min_idle are idle.
func (p *pool) warm() {
	p.mu.Lock()
	need := p.settings.minIdle - len(p.idle)
	if room := p.settings.max - p.open; need > room {
		need = room
	}
	if need <= 0 || p.warming || p.closed {
		p.mu.Unlock()
		return
	}
	p.warming = true
	p.open += need
	p.mu.Unlock()
	go func() {
		defer func() {
			p.mu.Lock()
			p.warming = false
			p.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for i := 0; i < need; i++ {
			b, err := p.dialSlot(ctx)
			if err != nil {
				p.set.log.Debug("pre-warming backend connection failed", "server", p.key.server, "user", p.key.user, "err", err)
				for j := i + 1; j < need; j++ {
					p.slotFreed()
				}
				return
			}
			p.release(b, true)
		}
	}()
}

// close closes idle connections now and in-use ones when released.
func (p *pool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.dead.Store(true)
	idle := p.idle
	p.idle = nil
	p.open -= len(idle)
	waiters := p.waiters
	p.waiters = nil
	p.open += len(waiters) // each waiter gets a slot; dialSlot sees the pool closed and frees it
	p.mu.Unlock()
	for _, b := range idle {
		b.close()
	}
	for _, w := range waiters {
		w <- nil
	}
}

func (p *pool) info() PoolInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PoolInfo{
		Server:        p.key.server,
		User:          p.key.user,
		Caps:          p.key.caps,
		Idle:          len(p.idle),
		InUse:         p.open - len(p.idle),
		Max:           p.settings.max,
		Waiting:       len(p.waiters),
		WaitsTotal:    p.waits.Load(),
		TimeoutsTotal: p.timeouts.Load(),
		ConnectsTotal: p.connects.Load(),
		ErrorsTotal:   p.errs.Load(),
		QueriesTotal:  p.queries.Load(),
	}
}
