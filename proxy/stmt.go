package proxy

import (
	"bytes"
	"fmt"

	"github.com/switchyard/switchyard/proxy/wire"
	"github.com/switchyard/switchyard/routing"
)

// stmt is a prepared statement as the client sees it: the proxy's id, valid
// on every backend connection (each prepares it on first use).
type stmt struct {
	id     uint32
	sql    string
	sqlb   []byte
	params uint16
	cols   uint16
	cls    routing.Class
	types  []byte // parameter types last bound by the client (2 bytes each)
}

// bstmt is a statement prepared on one backend connection.
type bstmt struct {
	sql        string
	id         uint32
	params     uint16
	types      []byte // the parameter types this backend statement last received
	prev, next *bstmt
}

// stmtCache maps statement text to backend statements on one connection,
// closing the least recently used beyond its cap.
type stmtCache struct {
	max    int
	m      map[string]*bstmt
	head   bstmt    // sentinel: head.next is the most recently used
	closes []uint32 // backend ids to close before the next command
}

func (c *stmtCache) init(max int) {
	c.max = max
	c.m = make(map[string]*bstmt)
	c.head.next, c.head.prev = &c.head, &c.head
}

func (c *stmtCache) unlink(e *bstmt) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (c *stmtCache) front(e *bstmt) {
	e.prev, e.next = &c.head, c.head.next
	c.head.next.prev = e
	c.head.next = e
}

// get returns the statement for sql and marks it used.
func (c *stmtCache) get(sql string) *bstmt {
	e := c.m[sql]
	if e != nil && c.head.next != e {
		c.unlink(e)
		c.front(e)
	}
	return e
}

// add records a statement prepared on the backend, replacing an older one
// with the same text and evicting beyond the cap.
func (c *stmtCache) add(sql string, id uint32, params uint16) *bstmt {
	if old := c.m[sql]; old != nil {
		c.unlink(old)
		c.closes = append(c.closes, old.id)
	}
	e := &bstmt{sql: sql, id: id, params: params}
	c.m[sql] = e
	c.front(e)
	for len(c.m) > c.max {
		lru := c.head.prev
		c.unlink(lru)
		delete(c.m, lru.sql)
		c.closes = append(c.closes, lru.id)
	}
	return e
}

// forget drops everything: the backend's statements are gone (reset).
func (c *stmtCache) forget() {
	clear(c.m)
	c.head.next, c.head.prev = &c.head, &c.head
	c.closes = c.closes[:0]
}

// writeCloses queues COM_STMT_CLOSE for evicted statements ahead of the next
// command (it has no response).
func (b *backend) writeCloses() error {
	for _, id := range b.stmts.closes {
		var p [5]byte
		p[0] = wire.ComStmtClose
		putLE32(p[1:], id)
		b.c.ResetSeq()
		if err := b.c.WritePacket(p[:]); err != nil {
			return &sendError{err}
		}
	}
	b.stmts.closes = b.stmts.closes[:0]
	return nil
}

// prepareOn prepares st on b (a connection that lacks it), discarding the
// response the client already saw once.
func (b *backend) prepareOn(st *stmt) (*bstmt, error) {
	buf := make([]byte, 0, 1+len(st.sql))
	buf = append(append(buf, wire.ComStmtPrepare), st.sql...)
	if err := b.send(buf); err != nil {
		return nil, err
	}
	var r responseReader
	r.initPhase(b, phPrepare)
	var failure error
	var id uint32
	var params uint16
	for {
		pkt, kind, err := r.next()
		if err != nil {
			b.broken = true
			return nil, &sendError{err} // the client's command was not sent yet
		}
		switch kind {
		case pktErr:
			failure = parseBackendError(pkt[4:])
		case pktPrepareOK:
			id, params = r.stmtID, uint16(r.params)
		}
		if !r.more() {
			break
		}
	}
	if failure != nil {
		return nil, failure
	}
	if params != st.params {
		// The statement means something else now (DDL in between): the
		// client's execute packet no longer fits it.
		b.stmts.closes = append(b.stmts.closes, id)
		return nil, &sqlError{1615, "HY000", "Prepared statement needs to be re-prepared"}
	}
	return b.stmts.add(st.sql, id, params), nil
}

// prepare handles COM_STMT_PREPARE.
func (s *session) prepare(pkt []byte) error {
	sqlb := append([]byte(nil), pkt[1:]...)
	st := &stmt{sqlb: sqlb, sql: string(sqlb), cls: routing.Classify(sqlb)}
	r := &s.req
	*r = request{pkt: pkt, sql: sqlb, cls: st.cls, ph: phPrepare, prep: st}
	return s.run1(r)
}

// onPrepared registers a statement when its prepare response passes by and
// rewrites the backend's statement id to the proxy's in place.
func (s *session) onPrepared(b *backend, r *request, pkt []byte) {
	p := pkt[4:]
	st := r.prep
	if st == nil { // cannot happen: only prepare requests start in phPrepare
		return
	}
	st.cols = uint16(p[5]) | uint16(p[6])<<8
	st.params = uint16(p[7]) | uint16(p[8])<<8
	b.stmts.add(st.sql, le32(p[1:5]), st.params)
	s.nextStmt++
	st.id = s.nextStmt
	if s.stmts == nil {
		s.stmts = make(map[uint32]*stmt)
	}
	s.stmts[st.id] = st
	putLE32(p[1:5], st.id)
}

// lookupStmt finds the statement a COM_STMT_* packet names.
func (s *session) lookupStmt(pkt []byte, what string) (*stmt, error) {
	if len(pkt) < 5 {
		return nil, &protocolError{"short " + what}
	}
	id := le32(pkt[1:5])
	st := s.stmts[id]
	if st == nil {
		return nil, &sqlError{wire.ErrUnknownStmt, "HY000", fmt.Sprintf("Unknown prepared statement handler (%d) given to %s", id, what)}
	}
	return st, nil
}

// execute handles COM_STMT_EXECUTE.
func (s *session) execute(pkt []byte) error {
	st, err := s.lookupStmt(pkt, "mysqld_stmt_execute")
	if err != nil {
		return s.stmtError(err)
	}
	if len(pkt) < 10 {
		return &protocolError{"short COM_STMT_EXECUTE"}
	}
	if st.params > 0 {
		off := 10 + int(st.params+7)/8
		if len(pkt) <= off {
			return &protocolError{"COM_STMT_EXECUTE without parameters"}
		}
		if pkt[off] == 1 {
			end := off + 1 + 2*int(st.params)
			if len(pkt) < end {
				return &protocolError{"COM_STMT_EXECUTE with truncated parameter types"}
			}
			if !bytes.Equal(st.types, pkt[off+1:end]) {
				st.types = append(st.types[:0], pkt[off+1:end]...)
			}
		}
	}
	r := &s.req
	*r = request{pkt: pkt, sql: st.sqlb, cls: st.cls, ph: phFirst, stmt: st}
	return s.run1(r)
}

// stmtError answers a COM_STMT_* error, or closes on a malformed packet.
func (s *session) stmtError(err error) error {
	if _, ok := err.(*protocolError); ok {
		return err
	}
	return s.sendError(err)
}

// longData handles COM_STMT_SEND_LONG_DATA: no response; the session stays
// on this backend until the statement executes or resets.
func (s *session) longData(pkt []byte) error {
	st, err := s.lookupStmt(pkt, "mysqld_stmt_send_long_data")
	if err != nil {
		if _, ok := err.(*protocolError); ok {
			return err
		}
		return nil // no response is ever sent; the execute reports the problem
	}
	r := &s.req
	*r = request{pkt: pkt, sql: st.sqlb, cls: st.cls, stmt: st, noReply: true}
	_, _, _, err = s.do(r)
	if _, ok := err.(*clientIOError); ok {
		return err
	}
	return nil
}

// closeStmt handles COM_STMT_CLOSE: no response; backend statements stay in
// their connections' caches until evicted.
func (s *session) closeStmt(pkt []byte) error {
	if len(pkt) < 5 {
		return &protocolError{"short COM_STMT_CLOSE"}
	}
	delete(s.stmts, le32(pkt[1:5]))
	return nil
}

// resetStmt handles COM_STMT_RESET: long data and cursors live on the pinned
// backend; without one there is nothing to reset.
func (s *session) resetStmt(pkt []byte) error {
	st, err := s.lookupStmt(pkt, "mysqld_stmt_reset")
	if err != nil {
		return s.stmtError(err)
	}
	if s.pin == nil {
		return s.writeOK()
	}
	r := &s.req
	*r = request{pkt: pkt, sql: st.sqlb, cls: st.cls, ph: phSimple, stmt: st}
	s.reasons &^= pinCursor | pinLongData
	return s.run1(r)
}

// fetch handles COM_STMT_FETCH on the pinned connection holding the cursor.
func (s *session) fetch(pkt []byte) error {
	st, err := s.lookupStmt(pkt, "mysqld_stmt_fetch")
	if err != nil {
		return s.stmtError(err)
	}
	if s.reasons&pinCursor == 0 || s.pin == nil {
		return s.writeErr(1421, "HY000", fmt.Sprintf("The statement (%d) has no open cursor.", st.id))
	}
	r := &s.req
	*r = request{pkt: pkt, sql: st.sqlb, cls: st.cls, ph: phRows, stmt: st}
	return s.run1(r)
}

// bind makes r's statement exist on b and rewrites the packet for it: the
// backend's statement id and, when b has not seen the client's parameter
// types, the types with the new-params-bound flag.
func (s *session) bind(b *backend, r *request) error {
	st := r.stmt
	bs := b.stmts.get(st.sql)
	if bs == nil {
		var err error
		if bs, err = b.prepareOn(st); err != nil {
			return err
		}
	}
	pkt, err := rewriteStmtPacket(s.execBuf[:0], r.pkt, bs, st)
	if err != nil {
		return err
	}
	if len(pkt) > 0 && &pkt[0] != &r.pkt[0] {
		s.execBuf = pkt
		r.pkt = pkt
	}
	return nil
}

// rewriteStmtPacket points a COM_STMT_* packet at backend statement bs. It
// patches the id in place; an execute that relies on types the backend
// statement has not seen gets them inserted (into dst). bs.types tracks what
// the backend now knows.
func rewriteStmtPacket(dst, pkt []byte, bs *bstmt, st *stmt) ([]byte, error) {
	if len(pkt) < 5 {
		return nil, &protocolError{"short statement command"}
	}
	putLE32(pkt[1:5], bs.id)
	if pkt[0] != wire.ComStmtExecute || st.params == 0 {
		return pkt, nil
	}
	off := 10 + int(st.params+7)/8
	if len(pkt) <= off {
		return nil, &protocolError{"COM_STMT_EXECUTE without parameters"}
	}
	if pkt[off] == 1 {
		end := off + 1 + 2*int(st.params)
		if len(pkt) < end {
			return nil, &protocolError{"COM_STMT_EXECUTE with truncated parameter types"}
		}
		if !bytes.Equal(bs.types, pkt[off+1:end]) {
			bs.types = append(bs.types[:0], pkt[off+1:end]...)
		}
		return pkt, nil
	}
	if st.types == nil || bytes.Equal(bs.types, st.types) {
		return pkt, nil
	}
	dst = append(dst, pkt[:off]...)
	dst = append(dst, 1)
	dst = append(dst, st.types...)
	dst = append(dst, pkt[off+1:]...)
	bs.types = append(bs.types[:0], st.types...)
	return dst, nil
}
