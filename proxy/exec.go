package proxy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchyard/switchyard/gtid"
	"github.com/switchyard/switchyard/proxy/wire"
	"github.com/switchyard/switchyard/routing"
	"github.com/switchyard/switchyard/topology"
)

// request is one client command to run on a backend.
type request struct {
	pkt   []byte // the command as received (may be rewritten per backend)
	cmd   byte   // pkt[0]: pkt is not readable after a LOCAL INFILE transfer
	sql   []byte // statement text for routing and the observer
	cls   routing.Class
	ph    phase // how the response starts
	stmt  *stmt // COM_STMT_* commands: the proxy statement
	prep  *stmt // COM_STMT_PREPARE: the statement being created
	useDB string

	sets    []routing.SetItem // KindSet: parsed items
	setOK   bool              // ParseSet understood the statement
	noReply bool              // COM_STMT_SEND_LONG_DATA

	readPrimary bool // the replica did not catch up with the session's writes
	onReplica   bool // an unpinned read on a replica: see replicaRefusal
}

// outcome summarises a relayed response.
type outcome struct {
	status    uint16
	hasStatus bool // the response carried server status flags
	failed    bool // ended with ERR
	rows      int64
	started   bool // something was sent to the client
}

// clientIOError wraps a failure to write to the client: the session ends.
type clientIOError struct{ err error }

func (e *clientIOError) Error() string { return "client write: " + e.err.Error() }
func (e *clientIOError) Unwrap() error { return e.err }

// run1 runs a request and reports proxy-side failures to the client. Only
// client I/O failures are returned.
func (s *session) run1(r *request) error {
	start := time.Now()
	b, res, route, err := s.do(r)
	server := ""
	if b != nil {
		server = b.pool.key.server
	}
	if err != nil {
		var cio *clientIOError
		if errors.As(err, &cio) {
			return err
		}
		res.failed = true
		if werr := s.sendError(err); werr != nil {
			return werr
		}
	}
	s.srv.stats.statements.Add(1)
	if o := s.srv.opts.Observer; o != nil {
		sql := r.sql
		if r.stmt != nil {
			sql = r.stmt.sqlb
		}
		o.Statement(s.user, sql, route, server, time.Since(start), res.rows, res.failed)
	}
	return nil
}

// do runs r on a backend: the pinned one, or one borrowed from the pool of
// the server routing chose, brought to the session's state first. Failures
// before the command reached the backend are retried (writes after the
// write gate reopens); reads that lose their backend are retried once.
func (s *session) do(r *request) (b *backend, res outcome, route routing.Route, err error) {
	var holdUntil time.Time
	readRetried := false
	r.cmd = r.pkt[0]
	for attempt := 0; ; attempt++ {
		var primary bool
		b, route, primary, err = s.acquire(r)
		if err != nil {
			if !primary && isConnectErr(err) && !r.readPrimary && s.pin == nil {
				// The replica chosen for a read cannot be reached (health
				// has not noticed yet): read from the primary instead.
				r.readPrimary = true
				continue
			}
			if !primary || !isConnectErr(err) {
				return nil, res, route, err
			}
			if werr := s.awaitFailover(&holdUntil); werr != nil {
				return nil, res, route, werr
			}
			continue
		}
		r.onReplica = !primary && s.pin == nil && !r.readPrimary && b.pool.key.server != s.srv.view.Load().Primary
		sent := false
		err = s.prepareBackend(b, r)
		if err == nil {
			sent = true
			s.cur.Store(b)
			b.pool.srv.inflight.Add(1)
			b.pool.queries.Add(1)
			if err = b.send(r.pkt); err == nil && !r.noReply {
				res, err = s.relay(b, r)
			}
			b.pool.srv.inflight.Add(-1)
			s.cur.Store(nil)
			if err != nil && !res.started && isSendErr(err) {
				sent = false
			}
		}
		if err == nil {
			s.finish(b, r, &res)
			return b, res, route, nil
		}
		var cio *clientIOError
		if errors.As(err, &cio) {
			b.broken = true
			s.releaseAfterFailure(b)
			return b, res, route, err
		}
		var be *wire.Error
		if errors.As(err, &be) { // replay, re-prepare or the read itself failed with an ERR packet
			s.releaseAfterFailure(b)
			if r.onReplica && !res.started && replicaRefusal(be.Code) {
				r.readPrimary = true
				continue
			}
			return b, res, route, err
		}
		// The backend connection failed.
		b.broken = true
		pinned := s.pin == b
		s.releaseAfterFailure(b)
		s.srv.log.Debug("backend connection failed", "conn", s.id, "server", b.pool.key.server, "sent", sent, "err", err)
		if pinned || res.started || attempt >= 3 || s.killed.Load() {
			s.srv.stats.lost.Add(1)
			if res.started {
				// Mid-response: end it with an ERR; the sequence continues.
				res.failed = true
				return b, res, route, s.midResponseError()
			}
			return b, res, route, errLost
		}
		if sent {
			if r.cls.Kind != routing.KindRead || readRetried || s.in.InTx {
				s.srv.stats.lost.Add(1)
				return b, res, route, errLost
			}
			readRetried = true
			continue
		}
		if primary {
			if werr := s.awaitFailover(&holdUntil); werr != nil {
				return nil, res, route, werr
			}
		}
	}
}

// awaitFailover waits, after the primary could not be reached, for the
// topology to change (a failover), bounded by the write hold counted from
// the first failure.
func (s *session) awaitFailover(holdUntil *time.Time) error {
	if holdUntil.IsZero() {
		*holdUntil = time.Now().Add(s.srv.maxHold())
	}
	return s.waitChange(*holdUntil)
}

// isConnectErr reports a failure to reach a server (as opposed to the
// server refusing the login, the pool being exhausted, or a routing error).
func isConnectErr(err error) bool {
	var se *sqlError
	var pe *poolExhausted
	var we *wire.Error
	return !errors.As(err, &se) && !errors.As(err, &pe) && !errors.As(err, &we)
}

// isSendErr reports a failure that happened before the backend could have
// executed anything: writing the command.
func isSendErr(err error) bool {
	var se *sendError
	return errors.As(err, &se)
}

// sendError marks a failure to send a command to a backend.
type sendError struct{ err error }

func (e *sendError) Error() string { return "send to backend: " + e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

// midResponseError ends a partly relayed response with an ERR packet and
// reports success so the client connection stays up.
func (s *session) midResponseError() error {
	if err := s.writeErr(errLost.code, errLost.state, errLost.msg); err != nil {
		return &clientIOError{err}
	}
	return nil
}

// releaseAfterFailure gives back a backend after a failed statement.
func (s *session) releaseAfterFailure(b *backend) {
	if s.pin == b {
		if !b.broken {
			return // pinned and healthy: an ERR packet does not end the pin
		}
		s.pin, s.pinServer, s.reasons = nil, "", 0
		s.in.InTx, s.in.TxServer = false, ""
	}
	if s.last == b {
		s.last = nil
	}
	b.pool.release(b, !b.broken)
}

// acquire picks the backend for r: the pinned one, or a pooled one on the
// server routing chooses.
func (s *session) acquire(r *request) (*backend, routing.Route, bool, error) {
	snap := s.srv.view.Load()
	if s.pin != nil {
		if snap.Epoch != s.pinEpoch && s.pinPrimary && s.pinServer != snap.Primary {
			// The primary changed under a pinned session: its transaction
			// (or temporary tables, locks) died with the old primary.
			s.srv.stats.aborts.Add(1)
			s.dropPin()
			s.in.InTx, s.in.TxReadOnly, s.in.TxServer = false, false, ""
			return nil, routing.RoutePrimary, false, errFailoverAbort
		}
		if s.pinServer != snap.Primary && !s.in.TxReadOnly && writes(r.cls) {
			// Only a read-only transaction or an open cursor pins a session
			// to a replica; a write must never run there.
			return nil, routing.RouteAuto, false, errWriteOnReplicaPin
		}
		return s.pin, routing.RouteAuto, false, nil
	}
	if b, ok, err := s.sameBackend(r, snap); ok || err != nil {
		return b, routing.RouteAuto, false, err
	}
	for {
		server, route, primary, wait, err := s.decide(r, snap)
		if err != nil {
			return nil, route, primary, err
		}
		p := s.pool(server)
		if p == nil {
			return nil, route, primary, fmt.Errorf("unknown server %q", server)
		}
		ctx := context.Background()
		b, err := p.borrow(ctx, s.last)
		if err != nil {
			return nil, route, primary, err
		}
		if wait {
			ok, werr := s.waitGTID(b)
			if werr != nil || !ok {
				b.pool.release(b, werr == nil && !b.broken)
				// Not caught up in time: read from the primary.
				r.readPrimary = true
				snap = s.srv.view.Load()
				continue
			}
		}
		return b, route, primary, nil
	}
}

// writes reports statements that change data or take locks: never for a
// replica.
func writes(c routing.Class) bool {
	switch c.Kind {
	case routing.KindWrite, routing.KindCall, routing.KindXA, routing.KindLockTables, routing.KindBegin:
		return true
	}
	return c.Flags&(routing.FlagLockingRead|routing.FlagSideEffect|routing.FlagTempTable|routing.FlagUserLock) != 0
}

// sameBackend runs statements that read per-connection results of the
// previous statement (LAST_INSERT_ID(), FOUND_ROWS(), warnings) on the
// previous statement's backend connection when it is still free. A write
// goes there only when that is the primary.
func (s *session) sameBackend(r *request, snap *topology.Snapshot) (*backend, bool, error) {
	last := s.last
	if last == nil || r.cls.Flags&routing.FlagSessionDependent == 0 {
		return nil, false, nil
	}
	p := last.pool // immutable: safe to read while another session uses last
	if r.cls.Kind != routing.KindRead && p.key.server != snap.Primary {
		return nil, false, nil
	}
	if !p.idleHas(last) {
		if s.lastInsertID == 0 {
			return nil, false, nil
		}
		// Another session took the connection: carry LAST_INSERT_ID() over.
		b, err := p.borrow(context.Background(), nil)
		if err != nil {
			return nil, false, err
		}
		if err := b.exec(fmt.Sprintf("DO LAST_INSERT_ID(%d)", s.lastInsertID)); err != nil {
			b.pool.release(b, !b.broken)
			return nil, false, err
		}
		return b, true, nil
	}
	b, err := p.borrow(context.Background(), last)
	return b, err == nil, err
}

// decide asks the router where r goes and applies the write gate.
func (s *session) decide(r *request, snap *topology.Snapshot) (server string, route routing.Route, primary, wait bool, err error) {
	rt := s.srv.router.Load()
	if r.readPrimary && snap.Primary != "" {
		return snap.Primary, routing.RoutePrimary, false, false, nil
	}
	if rt == nil || r.readPrimary {
		server, err = s.writablePrimary(snap)
		return server, routing.RoutePrimary, true, false, err
	}
	if rt.RYWMode() == routing.RYWGlobal {
		s.srv.newest.raise(&s.in)
	}
	d := rt.Decide(r.cls, r.sql, &s.in, snap, s.srv.load)
	if d.Err != nil {
		return "", d.Route, d.Primary, false, &sqlError{1105, "HY000", "switchyard: " + d.Err.Error()}
	}
	if d.Primary {
		server, err = s.writablePrimary(snap)
		return server, d.Route, true, false, err
	}
	return d.Server, d.Route, false, d.WaitGTID, nil
}

// writablePrimary returns the primary once writes may flow, waiting while
// they are held (failover in progress) up to the hold deadline.
func (s *session) writablePrimary(snap *topology.Snapshot) (string, error) {
	var deadline time.Time
	for {
		switch snap.Gate {
		case topology.WritesBlocked:
			return "", &sqlError{wire.ErrLockWaitTimeout, "HY000", "switchyard: writes blocked: " + snap.Reason}
		case topology.WritesOpen:
			if p := snap.PrimaryServer(); p != nil && p.Reachable && p.Admin == topology.AdminOnline {
				return p.Name, nil
			}
		}
		if deadline.IsZero() {
			s.srv.stats.held.Add(1)
			s.srv.stats.holding.Add(1)
			defer s.srv.released(time.Now())
			deadline = time.Now().Add(s.srv.maxHold())
			if snap.Gate == topology.WritesHeld && !snap.HoldUntil.IsZero() {
				deadline = snap.HoldUntil
			}
		}
		if err := s.waitChange(deadline); err != nil {
			return "", err
		}
		snap = s.srv.view.Load()
	}
}

// waitChange waits for the next topology change or the deadline (ERR 1205).
func (s *session) waitChange(deadline time.Time) error {
	ch := s.srv.view.Changed()
	d := time.Until(deadline)
	if d <= 0 {
		return s.srv.holdTimeout()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
		return s.srv.holdTimeout()
	}
}

// released ends one write's wait at the gate, successful or not.
func (srv *Server) released(since time.Time) {
	srv.stats.holding.Add(-1)
	if h, ok := srv.opts.Observer.(HoldObserver); ok {
		h.WriteHeld(time.Since(since))
	}
}

func (srv *Server) maxHold() time.Duration {
	if d := srv.cfg.Load().Failover.MaxHold.D(); d > 0 {
		return d
	}
	return 10 * time.Second
}

func (srv *Server) holdTimeout() error {
	srv.stats.holdTimeouts.Add(1)
	return &sqlError{wire.ErrLockWaitTimeout, "HY000",
		fmt.Sprintf("switchyard: no writable primary within %s (failover in progress); retry", srv.maxHold())}
}

// waitGTID runs MASTER_GTID_WAIT for the session's last write on a replica
// connection; ok is false when the replica did not catch up in time.
func (s *session) waitGTID(b *backend) (bool, error) {
	rt := s.srv.router.Load()
	timeout := 0.05
	if rt != nil {
		timeout = rt.RYWWait().Seconds()
	}
	flavor := topology.FlavorMariaDB
	if !b.mariadb {
		flavor = topology.FlavorMySQL
	}
	q := fmt.Sprintf("SELECT %s('%s', %g)", flavor.WaitGTIDFunc(), s.in.LastGTID.String(), timeout)
	v, err := b.queryRow(q)
	if err != nil {
		return false, err
	}
	return string(v) == "0", nil
}

// pool returns this session's pool for a server.
func (s *session) pool(server string) *pool {
	for i := range s.pools {
		if s.pools[i].server == server {
			if p := s.pools[i].p; !p.isClosed() {
				return p
			}
			s.pools = append(s.pools[:i], s.pools[i+1:]...)
			break
		}
	}
	k := s.key
	k.server = server
	p := s.srv.pools.get(k)
	if p != nil {
		s.pools = append(s.pools, poolRef{server, p})
	}
	return p
}

func (p *pool) isClosed() bool { return p.dead.Load() }

// prepareBackend brings b to the session's state and, for prepared
// statements, makes sure the statement exists there and rewrites the packet.
func (s *session) prepareBackend(b *backend, r *request) error {
	if err := s.sync(b); err != nil {
		return err
	}
	if r.stmt != nil {
		return s.bind(b, r)
	}
	return nil
}

// sync replays the session state onto b when it carries another one.
func (s *session) sync(b *backend) error {
	if b.st == s.st {
		return nil
	}
	if b.st.equal(s.st) {
		b.st = s.st
		return nil
	}
	b.pool.mu.Lock()
	base := b.pool.baseSet
	b.pool.mu.Unlock()
	rp := plan(b.st, s.st, base, b.trackSQL())
	if len(rp.cmds) == 0 {
		b.st = s.st
		return nil
	}
	for _, cmd := range rp.cmds {
		b.c.ResetSeq()
		if err := b.c.WritePacket(cmd); err != nil {
			return &sendError{err}
		}
		if cmd[0] == wire.ComResetConnection {
			b.stmts.forget()
		}
	}
	if err := b.c.Flush(); err != nil {
		return &sendError{err}
	}
	var first error
	for _, cmd := range rp.cmds {
		b.c.SetSeq(1)
		ph := phFirst
		if cmd[0] != wire.ComQuery {
			ph = phSimple
		}
		err := b.drainPhase(ph)
		if err != nil && isNetErr(err) {
			return &sendError{err} // nothing of the client's statement was sent yet
		}
		if err != nil && first == nil {
			first = err
			if be, ok := err.(*wire.Error); ok && cmd[0] == wire.ComQuery {
				be.Message += " (replaying session state: " + string(cmd[1:]) + ")"
			}
		}
	}
	if first != nil {
		b.broken = true // its state is now partly applied
		return first
	}
	b.st = s.st
	return nil
}

// replicaRefusal reports errors a replica gives for what only the primary
// can answer: a table, column, database or routine it does not have yet
// (DDL still replicating, or a client reading on one connection what it
// created on another), or a write refused by read_only (a stored function
// called in a SELECT that writes). Such a read is retried on the primary,
// which decides; other errors reach the client unchanged.
func replicaRefusal(code uint16) bool {
	switch code {
	case 1146, // ER_NO_SUCH_TABLE
		1054, // ER_BAD_FIELD_ERROR
		1049, // ER_BAD_DB_ERROR
		1305, // ER_SP_DOES_NOT_EXIST
		1290, // ER_OPTION_PREVENTS_STATEMENT: --read-only
		1836: // ER_READ_ONLY_MODE (MySQL super_read_only)
		return true
	}
	return false
}

// relay streams b's response to r to the client packet by packet.
func (s *session) relay(b *backend, r *request) (res outcome, err error) {
	var rr responseReader
	rr.initPhase(b, r.ph)
	c := s.c
	strip := s.caps&wire.ClientSessionTrack == 0
	for {
		pkt, kind, err := rr.next()
		if err != nil {
			return res, err
		}
		switch kind {
		case pktRow:
			res.rows++
		case pktOK:
			pkt = s.onOK(pkt, strip)
			if r.ph == phFirst || r.ph == phSimple {
				res.rows += int64(okAffected(pkt[4:]))
			}
		case pktErr:
			if r.onReplica && !res.started {
				if e := parseBackendError(pkt[4:]); replicaRefusal(e.Code) {
					return res, e // not forwarded: do retries it on the primary
				}
			}
			res.failed = true
		case pktPrepareOK:
			s.onPrepared(b, r, pkt)
		case pktInfile:
			// Reading the file overwrites the client's read buffer.
			s.sqlCopy = append(s.sqlCopy[:0], r.sql...)
			r.sql = s.sqlCopy
			if err := s.relayInfile(b, pkt); err != nil {
				return res, err
			}
			res.started = true
			rr.afterInfile()
			continue
		}
		if err := c.WriteRaw(pkt); err != nil {
			return res, &clientIOError{err}
		}
		res.started = true
		if !rr.more() {
			break
		}
		if b.c.Buffered() == 0 {
			if err := c.Flush(); err != nil {
				return res, &clientIOError{err}
			}
		}
	}
	res.status, res.hasStatus = rr.status, rr.hasStatus
	if err := c.Flush(); err != nil {
		return res, &clientIOError{err}
	}
	return res, nil
}

// onOK tracks the session's transaction state and last GTID from an OK
// packet and strips session-tracking data for clients that did not ask for
// it. It returns the packet to forward.
func (s *session) onOK(pkt []byte, strip bool) []byte {
	p := pkt[4:]
	if id, n, ok := lenEncInt(p[1:]); ok { // skip affected rows
		if id, _, ok = lenEncInt(p[1+n:]); ok && id != 0 {
			s.lastInsertID = id
		}
	}
	st, ok := okStatus(p)
	if !ok || st&wire.StatusSessionStateChanged == 0 && !strip {
		return pkt
	}
	if st&wire.StatusSessionStateChanged != 0 {
		if o, err := wire.ParseOK(p, wire.ClientSessionTrack|wire.ClientProtocol41); err == nil {
			if g, ok := wire.SessionTrackGTID(o.SessionState); ok {
				if id, ok := gtid.Parse(g); ok {
					s.in.LastGTID, s.in.HasGTID = id, true
					s.srv.newest.note(id)
				}
			}
		}
	}
	if strip {
		return stripSessionTrack(pkt)
	}
	return pkt
}

// stripSessionTrack rewrites an OK packet (header included) in place for a
// client without CLIENT_SESSION_TRACK: the session-state block after the
// info string is cut and SERVER_SESSION_STATE_CHANGED cleared. The info
// string keeps its length prefix: servers send it length-encoded either way.
func stripSessionTrack(pkt []byte) []byte {
	p := pkt[4:]
	i := 1
	for k := 0; k < 2; k++ {
		_, n, ok := lenEncInt(p[i:])
		if !ok {
			return pkt
		}
		i += n
	}
	if len(p) < i+4 {
		return pkt
	}
	st := uint16(p[i]) | uint16(p[i+1])<<8
	if st&wire.StatusSessionStateChanged == 0 {
		return pkt
	}
	st &^= wire.StatusSessionStateChanged
	p[i], p[i+1] = byte(st), byte(st>>8)
	i += 4
	if i < len(p) {
		_, n, null, ok := readLenEncString(p[i:])
		if !ok || null {
			return pkt
		}
		i += n
	}
	pkt[0], pkt[1], pkt[2] = byte(i), byte(i>>8), byte(i>>16)
	return pkt[:4+i]
}

// relayInfile forwards a LOCAL INFILE request to the client and the file's
// packets back to the backend until the empty packet that ends it.
func (s *session) relayInfile(b *backend, req []byte) error {
	c := s.c
	if err := c.WriteRaw(req); err != nil {
		return &clientIOError{err}
	}
	if err := c.Flush(); err != nil {
		return &clientIOError{err}
	}
	for {
		pkt, err := c.ReadRaw()
		if err != nil {
			return &clientIOError{err}
		}
		if err := b.c.WriteRaw(pkt); err != nil {
			return err
		}
		if len(pkt) == 4 {
			return b.c.Flush()
		}
		if c.Buffered() == 0 {
			if err := b.c.Flush(); err != nil {
				return err
			}
		}
	}
}

// finish updates session state after a statement and pins or releases b.
func (s *session) finish(b *backend, r *request, res *outcome) {
	if r.noReply {
		s.reasons |= pinLongData
		s.hold(b)
		return
	}
	if !res.failed {
		s.applyEffects(b, r)
	}
	if res.hasStatus {
		s.status = res.status
		if res.status&wire.StatusInTrans != 0 {
			s.reasons |= pinTx
		} else {
			s.reasons &^= pinTx
			s.reasons &^= pinSetTx
			if r.cls.Kind == routing.KindSetTransaction && !res.failed {
				s.reasons |= pinSetTx
			}
		}
		if res.status&wire.StatusCursorExists != 0 {
			s.reasons |= pinCursor
		} else if r.cmd == wire.ComStmtFetch && res.status&wire.StatusLastRowSent != 0 {
			s.reasons &^= pinCursor
		}
	}
	if r.cmd == wire.ComStmtExecute {
		s.reasons &^= pinLongData
	}
	s.in.InTx = s.reasons&pinTx != 0
	s.in.TxReadOnly = s.in.InTx && s.status&wire.StatusInTransReadOnly != 0
	s.in.NoAutocommit = s.status&wire.StatusAutocommit == 0
	s.hold(b)
}

// hold keeps b pinned while the session has a reason, else returns it to the
// pool.
func (s *session) hold(b *backend) {
	s.last = b
	if s.reasons != 0 {
		if s.pin == nil {
			snap := s.srv.view.Load()
			s.pin, s.pinServer = b, b.pool.key.server
			s.pinEpoch, s.pinPrimary = snap.Epoch, snap.Primary == s.pinServer
		}
		s.in.TxServer = s.pinServer
		return
	}
	s.in.TxServer = ""
	s.pin, s.pinServer = nil, ""
	b.pool.release(b, true)
}
