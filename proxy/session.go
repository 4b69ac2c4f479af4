package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/proxy/wire"
	"github.com/switchyard/switchyard/routing"
)

// Pin reasons: while any is set the session keeps its backend connection.
const (
	pinTx         uint32 = 1 << iota // a transaction is open (StatusInTrans)
	pinTemp                          // temporary tables exist
	pinUserLock                      // GET_LOCK and friends
	pinLockTables                    // LOCK TABLES
	pinSQLPrepare                    // SQL-level PREPARE
	pinCursor                        // an open binary-protocol cursor
	pinLongData                      // COM_STMT_SEND_LONG_DATA before its execute
	pinUserVar                       // a user variable assigned a non-literal value
	pinMulti                         // a multi-statement that may have changed session state, or HANDLER
	pinSetTx                         // SET TRANSACTION applies to the next transaction
	pinUnknownSet                    // too many unparseable SETs to replay
)

// session is one client connection. All of its work, including the backend
// I/O of its statements, runs on its own goroutine.
type session struct {
	srv  *Server
	id   uint64
	nc   net.Conn
	c    *wire.Conn
	hs   wire.HandshakeConfig
	addr string

	// Set at login (and COM_CHANGE_USER); read by info under mu.
	user        string
	caps        uint32
	key         poolKey // caps and charset of this session's pools
	connectedAt time.Time
	tls         bool

	st     *state
	status uint16 // last server status, for locally generated replies

	pin          *backend // held backend connection while pinned
	pinServer    string
	pinEpoch     uint64
	pinPrimary   bool // the pinned server was the primary when pinned
	reasons      uint32
	last         *backend // backend of the previous statement, preferred next time
	lastInsertID uint64   // from the last OK packet that carried one
	in           routing.SessionInput

	stmts    map[uint32]*stmt
	nextStmt uint32

	pools    []poolRef // cache of pools by server for this session's key
	setItems []routing.SetItem
	req      request // reused for every command
	buf      []byte  // scratch for locally generated packets
	execBuf  []byte  // scratch for rewritten COM_STMT_EXECUTE packets
	sqlCopy  []byte

	queries atomic.Int64
	cur     atomic.Pointer[backend] // backend busy with a statement, for kill
	killed  atomic.Bool

	mu      sync.Mutex
	busy    bool
	closing bool
	infoDB  string // copies for info, updated between commands
	infoTx  bool   // a transaction is open on infoPin
	infoPin string
}

type poolRef struct {
	server string
	p      *pool
}

func newSession(srv *Server, id uint64, nc net.Conn) *session {
	return &session{
		srv:         srv,
		id:          id,
		nc:          nc,
		addr:        nc.RemoteAddr().String(),
		connectedAt: time.Now(),
		status:      wire.StatusAutocommit,
	}
}

// run serves the client until it quits, fails or is closed.
func (s *session) run() {
	cfg := s.srv.cfg.Load()
	s.c = wire.NewConn(countingConn{Conn: s.nc, srv: s.srv})
	if hto := cfg.Limits.HandshakeTimeout.D(); hto > 0 {
		_ = s.nc.SetDeadline(time.Now().Add(hto))
	}
	if !s.login() {
		return
	}
	_ = s.nc.SetDeadline(time.Time{})
	if max := cfg.Limits.MaxPacketSize; max > 0 {
		s.c.MaxPacket = int(max)
	}
	defer s.srv.unregister(s)
	idle := cfg.Limits.IdleTimeout.D()
	for {
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			return
		}
		s.busy = false
		s.infoDB, s.infoPin, s.infoTx = s.st.db, s.pinServer, s.reasons&pinTx != 0
		if idle > 0 {
			_ = s.nc.SetReadDeadline(time.Now().Add(idle))
		}
		s.mu.Unlock()
		s.c.ResetSeq()
		pkt, err := s.c.ReadPacket()
		if err != nil {
			s.readFailed(err)
			return
		}
		s.mu.Lock()
		s.busy = true
		s.mu.Unlock()
		if len(pkt) == 0 {
			s.srv.log.Info("closing client: empty command packet", "conn", s.id)
			return
		}
		s.queries.Add(1)
		quit, err := s.dispatch(pkt)
		if err != nil {
			s.commandFailed(err)
			return
		}
		if quit {
			return
		}
	}
}

func (s *session) readFailed(err error) {
	switch {
	case errors.Is(err, wire.ErrPacketTooLarge):
		s.srv.log.Warn("closing client: packet too large", "conn", s.id, "user", s.user, "err", err)
		s.c.ResetSeq()
		s.c.SetSeq(1)
		_ = s.c.WritePacket(wire.AppendErr(nil, wire.ErrNetPacketTooLarge, "08S01", "Got a packet bigger than 'max_allowed_packet' bytes"))
		_ = s.c.Flush()
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.mu.Lock()
		closing := s.closing
		s.mu.Unlock()
		if !closing {
			s.srv.log.Info("closing idle client", "conn", s.id, "user", s.user)
		}
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), s.killed.Load():
	default:
		s.srv.log.Info("closing client: read failed", "conn", s.id, "user", s.user, "err", err)
	}
}

func (s *session) commandFailed(err error) {
	if s.killed.Load() {
		return
	}
	var pe *protocolError
	if errors.As(err, &pe) {
		s.srv.log.Warn("closing client: protocol violation", "conn", s.id, "user", s.user, "err", err)
		return
	}
	s.srv.log.Info("closing client", "conn", s.id, "user", s.user, "err", err)
}

// protocolError is a malformed client packet: the connection is closed.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return "malformed client packet: " + e.msg }

// dispatch runs one client command. An error closes the client connection.
func (s *session) dispatch(pkt []byte) (quit bool, err error) {
	switch pkt[0] {
	case wire.ComQuery:
		return false, s.query(pkt)
	case wire.ComStmtExecute:
		return false, s.execute(pkt)
	case wire.ComStmtPrepare:
		return false, s.prepare(pkt)
	case wire.ComStmtSendLongData:
		return false, s.longData(pkt)
	case wire.ComStmtClose:
		return false, s.closeStmt(pkt)
	case wire.ComStmtReset:
		return false, s.resetStmt(pkt)
	case wire.ComStmtFetch:
		return false, s.fetch(pkt)
	case wire.ComPing:
		return false, s.writeOK()
	case wire.ComInitDB:
		return false, s.initDB(pkt)
	case wire.ComFieldList:
		return false, s.run1(&request{pkt: pkt, cls: routing.Class{Kind: routing.KindRead}, ph: phRows})
	case wire.ComStatistics:
		return false, s.run1(&request{pkt: pkt, cls: routing.Class{Kind: routing.KindRead}, ph: phString})
	case wire.ComSetOption:
		return false, s.setOption(pkt)
	case wire.ComResetConnection:
		s.reset()
		return false, s.writeOK()
	case wire.ComChangeUser:
		return false, s.changeUser(pkt)
	case wire.ComProcessKill:
		if len(pkt) < 5 {
			return false, &protocolError{"short COM_PROCESS_KILL"}
		}
		return false, s.killCmd(uint64(le32(pkt[1:])), false)
	case wire.ComQuit:
		return true, nil
	}
	return false, s.writeErr(wire.ErrUnknownCom, "08S01", "Unknown command")
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func putLE32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// writeOK answers a command locally.
func (s *session) writeOK() error {
	s.buf = wire.AppendOK(s.buf[:0], s.caps, 0, 0, s.status&^wire.StatusSessionStateChanged, 0, "")
	if err := s.c.WritePacket(s.buf); err != nil {
		return err
	}
	return s.c.Flush()
}

// writeErr answers a command with an ERR packet.
func (s *session) writeErr(code uint16, state, msg string) error {
	s.buf = wire.AppendErr(s.buf[:0], code, state, msg)
	if err := s.c.WritePacket(s.buf); err != nil {
		return err
	}
	return s.c.Flush()
}

// sendError reports a statement failure that originates in the proxy.
func (s *session) sendError(err error) error {
	var se *sqlError
	if errors.As(err, &se) {
		return s.writeErr(se.code, se.state, se.msg)
	}
	var be *wire.Error
	if errors.As(err, &be) {
		return s.writeErr(be.Code, be.State, be.Message)
	}
	var pe *poolExhausted
	if errors.As(err, &pe) {
		return s.writeErr(wire.ErrConCount, "08004", pe.Error())
	}
	return s.writeErr(2003, "HY000", "switchyard: "+err.Error())
}

// sqlError is an error the proxy reports to the client as an ERR packet.
type sqlError struct {
	code  uint16
	state string
	msg   string
}

func (e *sqlError) Error() string { return fmt.Sprintf("ERROR %d (%s): %s", e.code, e.state, e.msg) }

var (
	errFailoverAbort = &sqlError{wire.ErrLockDeadlock, "40001", "switchyard: transaction aborted by primary failover; retry the transaction"}
	errLost          = &sqlError{wire.ErrClientLostConnection, "HY000", "Lost connection to backend during query"}
	// Only a cursor can pin a session outside a read-only transaction to a
	// replica (see acquire).
	errWriteOnReplicaPin = &sqlError{1105, "HY000", "switchyard: this session holds an open cursor on a replica; close it before writing"}
)

// setOption handles COM_SET_OPTION: multi-statements are session state.
func (s *session) setOption(pkt []byte) error {
	if len(pkt) < 3 {
		return &protocolError{"short COM_SET_OPTION"}
	}
	var on bool
	switch uint16(pkt[1]) | uint16(pkt[2])<<8 {
	case wire.OptionMultiStatementsOn:
		on = true
	case wire.OptionMultiStatementsOff:
	default:
		return s.writeErr(wire.ErrUnknownCom, "08S01", "Unknown command")
	}
	if s.st.multi != on {
		n := s.st.clone()
		n.multi = on
		s.st = n
	}
	// mysqld answers with EOF (an OK with the EOF header under DEPRECATE_EOF).
	if s.caps&wire.ClientDeprecateEOF != 0 {
		s.buf = wire.AppendResultSetEndOK(s.buf[:0], s.caps, s.status&^wire.StatusSessionStateChanged, 0)
	} else {
		s.buf = wire.AppendEOF(s.buf[:0], s.status&^wire.StatusSessionStateChanged, 0)
	}
	if err := s.c.WritePacket(s.buf); err != nil {
		return err
	}
	return s.c.Flush()
}

// initDB validates the database on a backend and makes it session state.
func (s *session) initDB(pkt []byte) error {
	return s.run1(&request{pkt: pkt, cls: routing.Class{Kind: routing.KindUse}, ph: phSimple, useDB: string(pkt[1:])})
}

// reset handles COM_RESET_CONNECTION: the session starts over; backends
// are brought to the new state lazily by replay.
func (s *session) reset() {
	s.dropPin()
	db := s.st.db
	s.st = &state{db: db, multi: s.caps&wire.ClientMultiStatements != 0}
	s.stmts = nil
	s.in.InTx, s.in.TxReadOnly, s.in.TxServer, s.in.NoAutocommit = false, false, "", false
	s.status = wire.StatusAutocommit
}

// dropPin gives up the pinned backend. Its connection may hold state that is
// no longer wanted (a transaction, temporary tables, locks), so it is closed
// rather than returned.
func (s *session) dropPin() {
	if s.pin != nil {
		b := s.pin
		s.pin, s.pinServer, s.reasons = nil, "", 0
		if s.last == b {
			s.last = nil
		}
		b.pool.release(b, false)
	}
	s.reasons = 0
}

// killCmd handles KILL [QUERY] id and COM_PROCESS_KILL. Ids are proxy client
// ids; a backend thread is never killed by id.
func (s *session) killCmd(id uint64, query bool) error {
	s.srv.mu.Lock()
	target := s.srv.sessions[id]
	s.srv.mu.Unlock()
	if target == nil {
		return s.writeErr(1094, "HY000", fmt.Sprintf("Unknown thread id: %d", id))
	}
	if target.info().User != s.user {
		return s.writeErr(1095, "HY000", fmt.Sprintf("You are not owner of thread %d", id))
	}
	if query {
		target.interrupt()
	} else if target != s {
		target.kill()
	} else {
		s.killed.Store(true)
		_ = s.writeOK()
		return errors.New("killed itself")
	}
	return s.writeOK()
}

// interrupt aborts the statement running for the session with KILL QUERY
// on its server, from another connection: the client gets the server's
// "interrupted" error and both connections stay usable.
func (s *session) interrupt() {
	b := s.cur.Load()
	if b == nil {
		return
	}
	p := b.pool // immutable fields only: b belongs to the target's goroutine
	k, err := p.borrow(context.Background(), nil)
	if err != nil {
		s.srv.log.Warn("KILL QUERY: no connection to the server", "conn", s.id, "server", p.key.server, "err", err)
		return
	}
	err = k.exec(fmt.Sprintf("KILL QUERY %d", b.threadID))
	p.release(k, !k.broken)
	if err != nil {
		s.srv.log.Warn("KILL QUERY failed", "conn", s.id, "server", p.key.server, "err", err)
	}
}

// kill closes the client connection and, if a statement is running, its
// backend connection (the server then aborts the statement).
func (s *session) kill() {
	s.killed.Store(true)
	_ = s.nc.Close()
	if b := s.cur.Load(); b != nil {
		_ = b.c.NetConn().Close()
	}
}

// shutdown closes the session now if idle, or after its running statement.
func (s *session) shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	if !s.busy {
		_ = s.nc.SetReadDeadline(time.Now())
	}
}

// close releases everything the session holds.
func (s *session) close() {
	s.dropPin()
	_ = s.nc.Close()
}

func (s *session) info() ClientInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	ci := ClientInfo{
		ID: s.id, User: s.user, Addr: s.addr, ConnectedAt: s.connectedAt,
		Queries: s.queries.Load(), TLS: s.tls, State: "idle",
	}
	ci.DB, ci.Pinned = s.infoDB, s.infoPin
	switch {
	case s.busy:
		ci.State = "query"
	case s.infoPin != "":
		ci.State = "pinned"
	}
	return ci
}

// countingConn counts client bytes for Stats.
type countingConn struct {
	net.Conn
	srv *Server
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.srv.stats.bytesIn.Add(int64(n))
	return n, err
}

func (c countingConn) Write(b []byte) (int, error) {
	// Per write, as mysqld's net_write_timeout: a client that stops reading
	// must not hold a backend connection forever.
	if t := c.srv.cfg.Load().Limits.WriteTimeout.D(); t > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(t))
	}
	n, err := c.Conn.Write(b)
	c.srv.stats.bytesOut.Add(int64(n))
	return n, err
}
