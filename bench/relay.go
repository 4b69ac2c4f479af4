package bench

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
)

// Relay is a plain TCP relay: every accepted connection is copied byte for
// byte to a new connection to the target, one goroutine per direction, with
// TCP_NODELAY on both sides. It understands nothing of the protocol, so it is
// the floor any proxy is measured against.
type Relay struct {
	ln     net.Listener
	target string
	log    *slog.Logger

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// StartRelay listens on addr ("127.0.0.1:0" for a free port) and relays to
// target until Close.
func StartRelay(addr, target string, log *slog.Logger) (*Relay, error) {
	if log == nil {
		log = slog.Default()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	r := &Relay{ln: ln, target: target, log: log, conns: map[net.Conn]struct{}{}}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// Addr is the address clients connect to.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Close stops accepting, closes every relayed connection and waits for the
// copying goroutines to end.
func (r *Relay) Close() error {
	r.mu.Lock()
	r.closed = true
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	err := r.ln.Close()
	r.wg.Wait()
	return err
}

func (r *Relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				r.log.Error("relay accept", "err", err)
			}
			return
		}
		r.wg.Add(1)
		go r.relay(c)
	}
}

// track registers c for Close; it reports false when the relay is closing.
func (r *Relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *Relay) untrack(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	c.Close()
}

func (r *Relay) relay(client net.Conn) {
	defer r.wg.Done()
	defer r.untrack(client)
	if !r.track(client) {
		return
	}
	server, err := net.Dial("tcp", r.target)
	if err != nil {
		r.log.Warn("relay dial", "target", r.target, "err", err)
		return
	}
	defer r.untrack(server)
	if !r.track(server) {
		return
	}
	// Go sets TCP_NODELAY by default; say so explicitly, since the relay's
	// worth as a floor depends on it.
	for _, c := range []net.Conn{client, server} {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
	}
	done := make(chan struct{})
	go func() {
		pipe(server, client)
		close(done)
	}()
	pipe(client, server)
	<-done
}

// pipe copies src to dst, then half-closes dst so the peer sees EOF, and
// closes src's read side so the opposite direction ends too.
func pipe(dst, src net.Conn) {
	io.Copy(dst, src)
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	} else {
		dst.Close()
	}
	if tc, ok := src.(*net.TCPConn); ok {
		tc.CloseRead()
	}
}
