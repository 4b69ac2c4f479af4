package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
	"unsafe"

	"github.com/switchyard/switchyard/proxy/wire"
)

// backend is one pooled connection to a server. It is used by one session at
// a time.
type backend struct {
	pool     *pool
	c        *wire.Conn
	threadID uint32
	mariadb  bool
	caps     uint32 // capabilities in effect (as requested by the proxy)

	raw   syscall.RawConn // nil when the peer check is unavailable (TLS)
	peek  func(fd uintptr) bool
	peekN uintptr
	peekE syscall.Errno

	st       *state // the session state this connection carries
	stmts    stmtCache
	lastUsed time.Time
	broken   bool // must not be reused: unknown protocol state or dead
}

// dialBackend opens and initialises a connection for pool p.
func dialBackend(ctx context.Context, p *pool, password string, maxPrepared int) (*backend, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tc := p.set.tls
	if tc != nil && !tc.InsecureSkipVerify && tc.ServerName == "" {
		tc = tc.Clone()
		tc.ServerName, _, _ = net.SplitHostPort(p.srv.addr)
	}
	dc := &wire.DialConfig{
		Addr:     p.srv.addr,
		User:     p.key.user,
		Password: password,
		Caps:     backendCaps | p.key.caps,
		Charset:  p.key.charset,
		TLS:      tc,
		Timeout:  5 * time.Second,
		Attrs:    map[string]string{"program_name": "switchyard"},
	}
	c, hello, err := wire.Dial(ctx, dc)
	if err != nil {
		return nil, fmt.Errorf("connect to %s (%s) as %q: %w", p.key.server, p.srv.addr, p.key.user, err)
	}
	b := &backend{
		pool:     p,
		c:        c,
		threadID: hello.ConnID,
		mariadb:  hello.Flavor != "mysql",
		caps:     hello.Caps,
		st:       baseState,
	}
	b.stmts.init(maxPrepared)
	if p.set.version.Load() == nil {
		v := hello.Version
		p.set.version.Store(&v)
	}
	if sc, ok := c.NetConn().(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			b.raw = rc
			b.peek = b.peekFD
		}
	}
	if err := b.exec(b.trackSQL()); err != nil {
		b.close()
		return nil, fmt.Errorf("initialise connection to %s: %w", p.key.server, err)
	}
	p.mu.Lock()
	known := p.baseSet != ""
	p.mu.Unlock()
	if !known {
		v, err := b.queryRow("SELECT CONCAT('SET NAMES ', @@character_set_client, ' COLLATE ', @@collation_connection)")
		if err != nil {
			b.close()
			return nil, fmt.Errorf("initialise connection to %s: %w", p.key.server, err)
		}
		p.mu.Lock()
		p.baseSet = string(v)
		p.mu.Unlock()
	}
	return b, nil
}

// trackSQL makes every OK carry the GTID of the session's last write, for
// read-your-writes.
func (b *backend) trackSQL() string {
	if !b.mariadb {
		return "SET session_track_gtids = OWN_GTID"
	}
	return "SET session_track_system_variables = CONCAT_WS(',', NULLIF(@@session_track_system_variables, ''), 'last_gtid')"
}

// alive reports whether an idle connection may be used: the server has not
// closed it and sent nothing unsolicited. It costs one non-blocking recv.
func (b *backend) alive() bool {
	if b.broken || b.c.Buffered() > 0 {
		return false
	}
	if b.raw == nil {
		return true
	}
	if err := b.raw.Read(b.peek); err != nil {
		return false
	}
	// EAGAIN: nothing to read, the connection is open. Otherwise n == 0 is
	// EOF and n > 0 unsolicited data (e.g. the error a server sends before
	// closing an idle connection).
	return b.peekE == syscall.EAGAIN
}

var peekBuf [1]byte

func (b *backend) peekFD(fd uintptr) bool {
	// Never blocks (MSG_DONTWAIT); the peeked byte is discarded, so a shared
	// buffer is fine.
	n, _, e := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&peekBuf[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	b.peekN, b.peekE = n, e
	if e == syscall.EINTR {
		return false
	}
	return true
}

func (b *backend) close() {
	b.broken = true
	_ = b.c.Close()
}

// send writes one command packet with sequence id 0 and flushes.
func (b *backend) send(payload []byte) error {
	b.c.ResetSeq()
	if err := b.c.WritePacket(payload); err != nil {
		return &sendError{err}
	}
	if err := b.c.Flush(); err != nil {
		return &sendError{err}
	}
	return nil
}

// exec runs a statement whose result is ignored; an ERR becomes the error.
func (b *backend) exec(sql string) error {
	buf := make([]byte, 0, 1+len(sql))
	buf = append(append(buf, wire.ComQuery), sql...)
	if err := b.send(buf); err != nil {
		b.broken = true
		return err
	}
	return b.drain()
}

// initDB selects db with COM_INIT_DB; an ERR (unknown database, access
// denied) leaves the connection as it was.
func (b *backend) initDB(db string) error {
	buf := make([]byte, 0, 1+len(db))
	if err := b.send(append(append(buf, wire.ComInitDB), db...)); err != nil {
		b.broken = true
		return err
	}
	if err := b.drainPhase(phSimple); err != nil {
		return err
	}
	st := b.st.clone()
	st.db = db
	b.st = st
	return nil
}

// drain reads one complete response, discarding it; an ERR packet becomes a
// *wire.Error, I/O and protocol failures mark the connection broken.
func (b *backend) drain() error { return b.drainPhase(phFirst) }

// drainPhase is drain for a response starting in phase ph.
func (b *backend) drainPhase(ph phase) error {
	var r responseReader
	r.initPhase(b, ph)
	for {
		pkt, kind, err := r.next()
		if err != nil {
			b.broken = true
			return err
		}
		if kind == pktErr {
			e := parseBackendError(pkt[4:])
			for r.more() { // an ERR ends the whole response
				if _, _, err := r.next(); err != nil {
					b.broken = true
					return err
				}
			}
			return e
		}
		if !r.more() {
			return nil
		}
	}
}

// queryRow runs a statement and returns the first column of its first row
// (nil for SQL NULL or no row).
func (b *backend) queryRow(sql string) ([]byte, error) {
	buf := make([]byte, 0, 1+len(sql))
	buf = append(append(buf, wire.ComQuery), sql...)
	if err := b.send(buf); err != nil {
		b.broken = true
		return nil, err
	}
	var r responseReader
	r.init(b)
	var val []byte
	var failure error
	for {
		pkt, kind, err := r.next()
		if err != nil {
			b.broken = true
			return nil, err
		}
		switch kind {
		case pktErr:
			failure = parseBackendError(pkt[4:])
		case pktRow:
			if val == nil && failure == nil {
				v, _, null, ok := readLenEncString(pkt[4:])
				if ok && !null {
					val = append([]byte{}, v...)
				}
			}
		}
		if !r.more() {
			return val, failure
		}
	}
}

func parseBackendError(payload []byte) *wire.Error {
	code, state, msg := wire.ParseErr(payload)
	return &wire.Error{Code: code, State: state, Message: msg}
}

// isNetErr reports whether err is an I/O failure (as opposed to an ERR
// packet), i.e. the connection is unusable.
func isNetErr(err error) bool {
	var we *wire.Error
	return err != nil && !errors.As(err, &we)
}
