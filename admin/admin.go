// Package admin serves the management port: a MySQL-protocol listener
// (default 127.0.0.1:6032) with its own credentials, answering admin
// commands (SHOW SERVERS, SET SERVER, SWITCHOVER, ...) with ordinary result
// sets so any MySQL client or script can drive the proxy. Nothing received
// here is ever sent to a backend.
package admin

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"
)

// Defaults that are not in the config.
const (
	maxConns         = 64               // concurrent admin connections
	handshakeTimeout = 10 * time.Second // used when limits.handshake_timeout is 0
	commandTimeout   = 5 * time.Minute  // SWITCHOVER / FAILOVER bound
)

// Admin is the admin port server.
type Admin struct {
	d       Deps
	log     *slog.Logger
	srv     *server.Server
	limiter *limiter
	started time.Time

	ctx    context.Context // cancelled by Close: aborts running commands
	cancel context.CancelFunc

	tlsConns sync.Map // net.Conn -> struct{}: connections that began a TLS handshake

	mu     sync.Mutex
	lns    []net.Listener
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// New returns an admin server; Serve starts it.
func New(d Deps) *Admin {
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "admin")
	ctx, cancel := context.WithCancel(context.Background())
	a := &Admin{
		d:       d,
		log:     log,
		limiter: newLimiter(),
		started: time.Now(),
		ctx:     ctx,
		cancel:  cancel,
		conns:   make(map[net.Conn]struct{}),
	}
	var tc *tls.Config
	if d.TLS != nil {
		// The protocol library upgrades connections itself; this hook tells
		// the login check which ones did.
		tc = d.TLS.Clone()
		tc.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			a.tlsConns.Store(hello.Conn, struct{}{})
			return nil, nil
		}
	}
	a.srv = server.NewServer(a.serverVersion(), mysql.DEFAULT_COLLATION_ID, mysql.AUTH_NATIVE_PASSWORD, nil, tc)
	return a
}

// Serve accepts admin connections on ln until Close. It returns nil after
// Close and the accept error otherwise.
func (a *Admin) Serve(ln net.Listener) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		ln.Close()
		return nil
	}
	a.lns = append(a.lns, ln)
	a.mu.Unlock()
	a.log.Info("admin port listening", "addr", ln.Addr().String())
	backoff := 5 * time.Millisecond
	for {
		nc, err := ln.Accept()
		if err != nil {
			a.mu.Lock()
			closed := a.closed
			a.mu.Unlock()
			if closed {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("admin: accept: %w", err)
			}
			// Out of file descriptors and the like: the admin port is how
			// an operator investigates, so keep it alive and retry.
			a.log.Warn("admin accept failed; retrying", "err", err, "in", backoff)
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		if !a.track(nc) {
			nc.Close()
			continue
		}
		a.wg.Add(1)
		go a.serveConn(nc)
	}
}

// track registers a connection; false when closed or at the limit.
func (a *Admin) track(nc net.Conn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	if len(a.conns) >= maxConns {
		a.log.Warn("admin connection refused: too many connections", "client", nc.RemoteAddr().String(), "max", maxConns)
		return false
	}
	a.conns[nc] = struct{}{}
	return true
}

// Close stops the listeners, aborts running commands, closes every admin
// connection and waits for their goroutines.
func (a *Admin) Close() error {
	a.mu.Lock()
	a.closed = true
	for _, ln := range a.lns {
		ln.Close()
	}
	for nc := range a.conns {
		nc.Close()
	}
	a.mu.Unlock()
	a.cancel()
	a.wg.Wait()
	return nil
}

func (a *Admin) serveConn(nc net.Conn) {
	defer a.wg.Done()
	defer func() {
		a.mu.Lock()
		delete(a.conns, nc)
		a.mu.Unlock()
		a.tlsConns.Delete(nc)
		nc.Close()
	}()
	remote := nc.RemoteAddr().String()
	defer func() {
		// A bug in a command or in the protocol library must cost one admin
		// connection, never the proxy.
		if r := recover(); r != nil {
			a.log.Error("admin connection panicked", "client", remote, "panic", fmt.Sprint(r))
		}
	}()

	host := hostOf(nc.RemoteAddr())
	if until, blocked := a.limiter.blocked(host); blocked {
		a.log.Warn("admin login refused: too many failed logins", "client", remote, "until", until.Format(time.RFC3339))
		refuse(nc, host)
		return
	}

	timeout := a.d.Config().Limits.HandshakeTimeout.D()
	if timeout <= 0 {
		timeout = handshakeTimeout
	}
	nc.SetDeadline(time.Now().Add(timeout))
	h := &handler{a: a, remote: remote, nc: nc}
	conn, err := a.srv.NewCustomizedConn(nc, credentials{a, h}, h)
	if err != nil {
		var me *mysql.MyError
		if errors.As(err, &me) && me.Code == mysql.ER_ACCESS_DENIED_ERROR {
			n, blocked := a.limiter.fail(host)
			// The user name is what the client sent; the password never
			// reaches this code.
			a.log.Warn("admin login failed", "client", remote, "user", h.user, "recent_failures", n, "blocked", blocked)
		} else {
			a.log.Debug("admin handshake failed", "client", remote, "err", err)
		}
		return
	}
	a.limiter.succeed(host)
	h.user = conn.GetUser()
	a.log.Info("admin login", "client", remote, "user", h.user)
	nc.SetDeadline(time.Time{})
	for !conn.Closed() {
		// Idle admin sessions give their slot back after limits.idle_timeout.
		if idle := a.d.Config().Limits.IdleTimeout.D(); idle > 0 {
			nc.SetReadDeadline(time.Now().Add(idle))
		}
		if err := conn.HandleCommand(); err != nil {
			return
		}
	}
}

// refuse answers a blocked host with ER_HOST_IS_BLOCKED instead of a
// handshake, as MySQL does.
func refuse(nc net.Conn, host string) {
	msg := fmt.Sprintf("Host '%s' is blocked because of many failed admin logins; try again later", host)
	code := uint16(mysql.ER_HOST_IS_BLOCKED)
	payload := append([]byte{0xff, byte(code), byte(code >> 8)}, msg...)
	hdr := []byte{byte(len(payload)), byte(len(payload) >> 8), byte(len(payload) >> 16), 0}
	nc.SetWriteDeadline(time.Now().Add(time.Second))
	nc.Write(append(hdr, payload...))
}

func hostOf(addr net.Addr) string {
	if ta, ok := addr.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

// credentials checks admin users only (cfg.Admin.Users), read at every login
// so RELOAD CONFIG applies to the next login. Unknown users get a random
// password, so they fail exactly like a wrong password (1045) and the port
// does not reveal which user names exist.
type credentials struct {
	a *Admin
	h *handler // learns the user name for logs
}

var unknownUserSecret = func() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}()

func (c credentials) CheckUsername(string) (bool, error) { return true, nil }

func (c credentials) GetCredential(user string) (string, bool, error) {
	c.h.user = user
	if c.a.d.Config().TLS.Client.Required {
		if _, ok := c.a.tlsConns.Load(c.h.nc); !ok {
			return "", false, mysql.NewError(3159, "Connections using insecure transport are prohibited while --require_secure_transport=ON.")
		}
	}
	for _, u := range c.a.d.Config().Admin.Users {
		if u.User == user {
			return u.Password, true, nil
		}
	}
	return unknownUserSecret, true, nil
}

// limiter blocks a source host for a while after repeated failed logins.
type limiter struct {
	maxFailures int
	window      time.Duration
	block       time.Duration
	now         func() time.Time

	mu    sync.Mutex
	hosts map[string]*hostState
}

type hostState struct {
	failures []time.Time // within window
	until    time.Time   // blocked until
}

func newLimiter() *limiter {
	return &limiter{maxFailures: 5, window: 10 * time.Second, block: 30 * time.Second, now: time.Now, hosts: make(map[string]*hostState)}
}

func (l *limiter) blocked(host string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h := l.hosts[host]; h != nil && l.now().Before(h.until) {
		return h.until, true
	}
	return time.Time{}, false
}

// fail records a failed login; it returns the failures within the window and
// whether the host is now blocked.
func (l *limiter) fail(host string) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.prune(now)
	h := l.hosts[host]
	if h == nil {
		h = &hostState{}
		l.hosts[host] = h
	}
	kept := h.failures[:0]
	for _, t := range h.failures {
		if now.Sub(t) < l.window {
			kept = append(kept, t)
		}
	}
	h.failures = append(kept, now)
	n := len(h.failures)
	if n < l.maxFailures {
		return n, false
	}
	h.until = now.Add(l.block)
	h.failures = h.failures[:0]
	return n, true
}

func (l *limiter) succeed(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.hosts, host)
}

// prune drops expired hosts so a scan from many addresses cannot grow the
// map without bound.
func (l *limiter) prune(now time.Time) {
	if len(l.hosts) < 1024 {
		return
	}
	for k, h := range l.hosts {
		if now.After(h.until) && (len(h.failures) == 0 || now.Sub(h.failures[len(h.failures)-1]) >= l.window) {
			delete(l.hosts, k)
		}
	}
}
