// Package proxy is Switchyard's data path: it accepts MySQL-protocol clients,
// authenticates them locally, keeps each client's session state, runs every
// statement on a pooled backend connection chosen by the router (holding one
// only while the session is pinned), and streams results back packet by
// packet.
package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/proxy/wire"
	"github.com/switchyard/switchyard/routing"
	"github.com/switchyard/switchyard/topology"
)

// Options configures a Server.
type Options struct {
	Config   *config.Config
	View     *topology.View  // the current topology
	Router   *routing.Router // nil: every statement goes to the primary
	Observer Observer        // nil: no per-statement callback
	Logger   *slog.Logger    // nil: slog.Default()
}

// Observer sees every statement. It is called on the session's goroutine on
// the hot path, so implementations must not block.
type Observer interface {
	Statement(user string, sql []byte, route routing.Route, server string, d time.Duration, rows int64, failed bool)
}

// HoldObserver is optionally implemented by an Observer to learn how long
// each write waited at the write gate during a failover or switchover.
type HoldObserver interface {
	WriteHeld(d time.Duration)
}

// Stats are the proxy-wide counters.
type Stats struct {
	ClientsConnected int64
	ClientsTotal     int64
	ClientsRefused   int64 // over max_client_connections or a user's max_connections
	AuthFailures     int64
	Statements       int64
	BytesIn          int64 // from clients
	BytesOut         int64 // to clients
	HeldWrites       int64 // writes that waited for the write gate
	Holding          int64 // writes waiting at the write gate now
	HoldTimeouts     int64 // writes that gave up waiting (ERR 1205)
	FailoverAborts   int64 // transactions aborted because the primary changed
	BackendLost      int64 // statements that lost their backend connection
}

// ClientInfo describes one client connection, for SHOW CLIENTS.
type ClientInfo struct {
	ID          uint64
	User        string
	Addr        string
	DB          string
	State       string // idle, query or pinned
	Pinned      string // server holding the pinned backend connection
	ConnectedAt time.Time
	Queries     int64
	TLS         bool
}

// Server is the application-port proxy.
type Server struct {
	opts   Options
	log    *slog.Logger
	view   *topology.View
	cfg    atomic.Pointer[config.Config]
	router atomic.Pointer[routing.Router]
	users  atomic.Pointer[map[string]config.User]
	tls    *tls.Config
	pools  *poolSet
	load   func(server string) int // Outstanding, bound once so Decide calls allocate nothing

	nextID atomic.Uint64

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sessions  map[uint64]*session
	perUser   map[string]int
	closing   bool
	done      chan struct{} // closed by Shutdown
	wg        sync.WaitGroup

	newest   newestGTID // for read_your_writes: global
	knownDBs sync.Map   // user + "\x00" + database -> time.Time until which checkDB trusts it

	stats struct {
		connected, total, refused, authFailures, statements          atomic.Int64
		bytesIn, bytesOut, held, holding, holdTimeouts, aborts, lost atomic.Int64
	}
}

// New builds a server from the configuration. It pre-warms pools once Serve
// is called.
func New(o Options) (*Server, error) {
	if o.Config == nil || o.View == nil {
		return nil, errors.New("proxy: Config and View are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Server{
		opts:      o,
		log:       o.Logger.With("component", "proxy"),
		view:      o.View,
		listeners: make(map[net.Listener]struct{}),
		sessions:  make(map[uint64]*session),
		perUser:   make(map[string]int),
		done:      make(chan struct{}),
	}
	if o.Router != nil {
		s.router.Store(o.Router)
	}
	tc, err := clientTLS(o.Config.TLS.Client)
	if err != nil {
		return nil, err
	}
	s.tls = tc
	btls, err := backendTLS(o.Config.TLS.Backend)
	if err != nil {
		return nil, err
	}
	s.pools = newPoolSet(s.log, btls)
	s.load = s.Outstanding
	s.apply(o.Config)
	return s, nil
}

// apply installs a configuration: users, limits and pools.
func (s *Server) apply(cfg *config.Config) {
	users := make(map[string]config.User, len(cfg.Users))
	for _, u := range cfg.Users {
		users[u.Name] = u
	}
	s.users.Store(&users)
	s.cfg.Store(cfg)
	s.pools.configure(cfg, users)
}

// Serve accepts clients on ln until Shutdown. It returns nil after Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	s.pools.start(s.view)
	var tempDelay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of file descriptors and similar: back off, keep serving.
				if tempDelay == 0 {
					tempDelay = 5 * time.Millisecond
				} else if tempDelay *= 2; tempDelay > time.Second {
					tempDelay = time.Second
				}
				s.log.Warn("accept failed; retrying", "err", err, "delay", tempDelay)
				time.Sleep(tempDelay)
				continue
			}
			return fmt.Errorf("proxy: accept: %w", err)
		}
		tempDelay = 0
		if !s.admit() {
			s.refuse(nc)
			continue
		}
		s.wg.Add(1)
		go s.handle(nc)
	}
}

// admit counts a new client against max_client_connections.
func (s *Server) admit() bool {
	limit := s.cfg.Load().Limits.MaxClientConnections
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || (limit > 0 && s.stats.connected.Load() >= int64(limit)) {
		return false
	}
	s.stats.connected.Add(1)
	s.stats.total.Add(1)
	return true
}

// refuse answers a client over the connection limit the way mysqld does: an
// ERR packet instead of the handshake.
func (s *Server) refuse(nc net.Conn) {
	s.stats.refused.Add(1)
	_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
	c := wire.NewConn(nc)
	_ = c.WritePacket(wire.AppendErr(nil, wire.ErrConCount, "08004", "Too many connections"))
	_ = c.Flush()
	_ = nc.Close()
}

func (s *Server) handle(nc net.Conn) {
	defer s.wg.Done()
	defer s.stats.connected.Add(-1)
	id := s.nextID.Add(1)
	ss := newSession(s, id, nc)
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("session panicked; connection closed", "conn", id, "panic", r)
		}
		ss.close()
	}()
	ss.run()
}

// register makes an authenticated session visible and applies the per-user
// connection limit.
func (s *Server) register(ss *session) error {
	users := *s.users.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return errShuttingDown
	}
	if u, ok := users[ss.user]; ok && u.MaxConnections > 0 && s.perUser[ss.user] >= u.MaxConnections {
		return userLimitError(ss.user)
	}
	s.perUser[ss.user]++
	s.sessions[ss.id] = ss
	return nil
}

func (s *Server) unregister(ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[ss.id]; !ok {
		return
	}
	delete(s.sessions, ss.id)
	if s.perUser[ss.user]--; s.perUser[ss.user] <= 0 {
		delete(s.perUser, ss.user)
	}
}

// changeUser moves a registered session's per-user count to another user.
func (s *Server) changeUser(ss *session, to string) error {
	users := *s.users.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := users[to]; ok && u.MaxConnections > 0 && to != ss.user && s.perUser[to] >= u.MaxConnections {
		return userLimitError(to)
	}
	if s.perUser[ss.user]--; s.perUser[ss.user] <= 0 {
		delete(s.perUser, ss.user)
	}
	s.perUser[to]++
	return nil
}

// Shutdown stops accepting, lets running statements finish until ctx ends or
// limits.shutdown_timeout passes, then closes every connection.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.done)
	}
	for ln := range s.listeners {
		_ = ln.Close()
	}
	sessions := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()
	// Idle sessions close now; busy ones close after their statement.
	for _, ss := range sessions {
		ss.shutdown()
	}
	if t := s.cfg.Load().Limits.ShutdownTimeout.D(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	finished := make(chan struct{})
	go func() { s.wg.Wait(); close(finished) }()
	var err error
	select {
	case <-finished:
	case <-ctx.Done():
		err = fmt.Errorf("proxy: shutdown: %w; closing %d busy connections", ctx.Err(), len(s.Clients()))
		s.mu.Lock()
		for _, ss := range s.sessions {
			ss.kill()
		}
		s.mu.Unlock()
		<-finished
	}
	s.pools.close()
	return err
}

// Reload applies a new configuration: users and passwords, limits, pool
// sizes and servers. Pools of removed servers drain and close.
func (s *Server) Reload(cfg *config.Config) error {
	if cfg == nil {
		return errors.New("proxy: reload: nil config")
	}
	if cfg.TLS.Backend != s.cfg.Load().TLS.Backend {
		return errors.New("proxy: reload: tls.backend cannot change at runtime; restart")
	}
	if s.opts.Router != nil {
		r, err := routing.NewRouter(cfg)
		if err != nil {
			return fmt.Errorf("proxy: reload: %w", err)
		}
		s.router.Store(r)
	}
	s.apply(cfg)
	return nil
}

// Clients lists the connected, authenticated clients ordered by id.
func (s *Server) Clients() []ClientInfo {
	s.mu.Lock()
	out := make([]ClientInfo, 0, len(s.sessions))
	for _, ss := range s.sessions {
		out = append(out, ss.info())
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// KillClient closes a client connection; a running statement is interrupted
// by closing its backend connection. It reports whether the client existed.
func (s *Server) KillClient(id uint64) bool {
	s.mu.Lock()
	ss := s.sessions[id]
	s.mu.Unlock()
	if ss == nil {
		return false
	}
	ss.kill()
	return true
}

// ClientTLS is the TLS configuration offered to clients (nil: TLS off), for
// other listeners that should present the same certificate.
func (s *Server) ClientTLS() *tls.Config { return s.tls }

// Pools describes every backend pool.
func (s *Server) Pools() []PoolInfo { return s.pools.info() }

// Stats returns the proxy-wide counters.
func (s *Server) Stats() Stats {
	st := &s.stats
	return Stats{
		ClientsConnected: st.connected.Load(),
		ClientsTotal:     st.total.Load(),
		ClientsRefused:   st.refused.Load(),
		AuthFailures:     st.authFailures.Load(),
		Statements:       st.statements.Load(),
		BytesIn:          st.bytesIn.Load(),
		BytesOut:         st.bytesOut.Load(),
		HeldWrites:       st.held.Load(),
		Holding:          st.holding.Load(),
		HoldTimeouts:     st.holdTimeouts.Load(),
		FailoverAborts:   st.aborts.Load(),
		BackendLost:      st.lost.Load(),
	}
}

// Outstanding is the number of statements in flight on a server.
func (s *Server) Outstanding(server string) int { return s.pools.outstanding(server) }
