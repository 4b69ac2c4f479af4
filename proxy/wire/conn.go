package wire

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
)

// defaultBufSize is the size of each of a Conn's read and write buffers.
// Packets larger than the read buffer grow it for as long as they are read.
const defaultBufSize = 16 << 10

// shrinkAbove is the read-buffer size above which an emptied buffer is
// released, so one large packet does not pin memory for the session's life.
const shrinkAbove = 64 << 10

// shrinkAfter is how many consecutive small packets release a grown buffer.
const shrinkAfter = 8

// ErrPacketTooLarge is returned by ReadPacket and ReadRaw when the peer sends
// a packet larger than Conn.MaxPacket. The connection cannot be resynchronised:
// answer with ErrNetPacketTooLarge if you like, then close it.
var ErrPacketTooLarge = errors.New("wire: packet larger than the maximum allowed")

// ErrMalformed wraps every protocol violation detected while decoding.
var ErrMalformed = errors.New("wire: malformed packet")

// SequenceError reports a packet whose sequence id is not the expected one.
type SequenceError struct{ Got, Want uint8 }

func (e *SequenceError) Error() string {
	return fmt.Sprintf("wire: packets out of order: got sequence id %d, want %d", e.Got, e.Want)
}

// Conn frames MySQL packets over a net.Conn with buffered I/O. It is not safe
// for concurrent use; one goroutine owns a Conn.
type Conn struct {
	// MaxPacket is the largest logical packet payload accepted from the
	// peer; 0 means no limit beyond what the protocol can express.
	MaxPacket int

	nc  net.Conn
	seq uint8

	rbuf []byte // read buffer; unread bytes are rbuf[r:w]
	r, w int
	big  []byte // joins a logical packet that spans physical packets

	smallReads int // packets read since the last one larger than defaultBufSize

	wbuf []byte // pending output, len = bytes buffered
	werr error  // sticky: after a failed write the stream is corrupt

	z   *compressor // non-nil once the compression protocol is on
	tls bool
	hdr [4]byte

	// Handshake state: the challenge (Accept keeps it for ChangeUser) and
	// the negotiated capabilities.
	scramble []byte
	peerCaps uint32
}

// NewConn wraps nc with 16 KiB read and write buffers.
func NewConn(nc net.Conn) *Conn {
	return &Conn{
		nc:   nc,
		rbuf: make([]byte, defaultBufSize),
		wbuf: make([]byte, 0, defaultBufSize),
	}
}

// NetConn returns the underlying connection (a *tls.Conn after UpgradeTLS),
// e.g. to set deadlines.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the underlying connection without flushing.
func (c *Conn) Close() error { return c.nc.Close() }

// TLS reports whether the connection was upgraded to TLS.
func (c *Conn) TLS() bool { return c.tls }

// Compressed reports whether the compression protocol is on.
func (c *Conn) Compressed() bool { return c.z != nil }

// ResetSeq starts a new command: the next packet has sequence id 0.
func (c *Conn) ResetSeq() {
	c.seq = 0
	if c.z != nil {
		c.z.seq = 0
	}
}

// Seq returns the sequence id of the next packet read or written.
func (c *Conn) Seq() uint8 { return c.seq }

// SetSeq sets the sequence id of the next packet read or written.
func (c *Conn) SetSeq(s uint8) { c.seq = s }

// Buffered returns how many bytes were received but not yet returned as
// packets: non-zero after a response means the peer pipelined.
func (c *Conn) Buffered() int {
	n := c.w - c.r
	if c.z != nil {
		n += c.z.br.Buffered()
	}
	return n
}

// ReadPacket reads one logical packet and returns its payload, joining
// physical packets of MaxPayload bytes with their continuations. The payload
// is valid until the next read on c.
func (c *Conn) ReadPacket() ([]byte, error) {
	c.releaseBig()
	start, n, err := c.readPhys()
	if err != nil {
		return nil, err
	}
	if n < MaxPayload {
		return c.rbuf[start : start+n], nil
	}
	c.big = append(c.big[:0], c.rbuf[start:start+n]...)
	for n == MaxPayload {
		if start, n, err = c.readPhys(); err != nil {
			return nil, err
		}
		if c.MaxPacket > 0 && len(c.big)+n > c.MaxPacket {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrPacketTooLarge, c.MaxPacket)
		}
		c.big = append(c.big, c.rbuf[start:start+n]...)
	}
	return c.big, nil
}

// ReadRaw reads one physical packet, header included, for relaying it
// unchanged with WriteRaw. A payload of exactly MaxPayload bytes means the
// logical packet continues in the next physical packet. The slice is valid
// until the next read on c. MaxPacket applies to each physical packet; a
// relay that must bound whole logical packets counts them itself.
func (c *Conn) ReadRaw() ([]byte, error) {
	c.releaseBig()
	start, n, err := c.readPhys()
	if err != nil {
		return nil, err
	}
	return c.rbuf[start-4 : start+n], nil
}

// readPhys reads one physical packet and returns where its payload starts in
// rbuf and its length.
func (c *Conn) readPhys() (start, n int, err error) {
	// Release a grown buffer once large packets stopped coming: not at the
	// first small one, so a stream of large rows does not reallocate per row.
	if len(c.rbuf) > shrinkAbove && c.smallReads >= shrinkAfter && c.w-c.r <= defaultBufSize/2 {
		nb := make([]byte, defaultBufSize)
		c.r, c.w = 0, copy(nb, c.rbuf[c.r:c.w])
		c.rbuf = nb
	}
	if err := c.fill(4); err != nil {
		return 0, 0, err
	}
	h := c.rbuf[c.r : c.r+4]
	n = int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	// The compressed protocol does not check inner sequence ids: servers
	// derive them from the compressed header and clients ignore them.
	if seq := h[3]; seq != c.seq && c.z == nil {
		return 0, 0, &SequenceError{Got: seq, Want: c.seq}
	}
	if c.MaxPacket > 0 && n > c.MaxPacket {
		return 0, 0, fmt.Errorf("%w: %d bytes > %d", ErrPacketTooLarge, n, c.MaxPacket)
	}
	if err := c.fill(4 + n); err != nil {
		return 0, 0, err
	}
	c.seq = c.rbuf[c.r+3] + 1
	if n < defaultBufSize {
		c.smallReads++
	} else {
		c.smallReads = 0
	}
	start = c.r + 4
	c.r = start + n
	return start, n, nil
}

// releaseBig drops the join buffer of a previous oversized packet.
func (c *Conn) releaseBig() { c.big = nil }

// fill makes at least n unread bytes available in rbuf[r:w].
func (c *Conn) fill(n int) error {
	if c.w-c.r >= n {
		return nil
	}
	c.reserve(n - (c.w - c.r))
	for c.w-c.r < n {
		if c.z != nil {
			if err := c.readCompressed(); err != nil {
				return err
			}
			continue
		}
		m, err := c.nc.Read(c.rbuf[c.w:])
		c.w += m
		if err != nil {
			if c.w-c.r >= n {
				return nil
			}
			if errors.Is(err, io.EOF) && c.w > c.r {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// reserve makes room for at least k more bytes after w, compacting or
// growing rbuf.
func (c *Conn) reserve(k int) {
	if len(c.rbuf)-c.w >= k {
		return
	}
	unread := c.w - c.r
	if unread+k <= len(c.rbuf) {
		copy(c.rbuf, c.rbuf[c.r:c.w])
	} else {
		nb := make([]byte, roundBuf(unread+k))
		copy(nb, c.rbuf[c.r:c.w])
		c.rbuf = nb
	}
	c.r, c.w = 0, unread
}

// roundBuf rounds a buffer size up to a multiple of defaultBufSize.
func roundBuf(n int) int {
	return (n + defaultBufSize - 1) / defaultBufSize * defaultBufSize
}

// WritePacket frames payload with the next sequence id(s), splitting it at
// MaxPayload (a payload that is an exact multiple of MaxPayload ends with an
// empty packet). The bytes stay buffered until Flush or a full buffer.
func (c *Conn) WritePacket(payload []byte) error {
	for {
		n := min(len(payload), MaxPayload)
		c.hdr = [4]byte{byte(n), byte(n >> 8), byte(n >> 16), c.seq}
		c.seq++
		if err := c.write(c.hdr[:]); err != nil {
			return err
		}
		if err := c.write(payload[:n]); err != nil {
			return err
		}
		payload = payload[n:]
		if n < MaxPayload {
			return nil
		}
	}
}

// WriteRaw writes one physical packet, header included, as it is (the caller
// may have patched pkt[3], the sequence id). c's sequence continues after it.
func (c *Conn) WriteRaw(pkt []byte) error {
	if len(pkt) < 4 || int(pkt[0])|int(pkt[1])<<8|int(pkt[2])<<16 != len(pkt)-4 {
		return fmt.Errorf("%w: WriteRaw of %d bytes with a header that does not match", ErrMalformed, len(pkt))
	}
	c.seq = pkt[3] + 1
	return c.write(pkt)
}

// Flush writes all buffered packets to the network.
func (c *Conn) Flush() error {
	if c.werr != nil {
		return c.werr
	}
	if len(c.wbuf) == 0 {
		return nil
	}
	return c.flushBuf()
}

// write appends b to the write buffer, flushing full buffers. Large plain
// writes go straight to the network instead of through the buffer.
func (c *Conn) write(b []byte) error {
	if c.werr != nil {
		return c.werr
	}
	for len(b) > 0 {
		if len(c.wbuf) == 0 && len(b) >= cap(c.wbuf) && c.z == nil {
			if _, err := c.nc.Write(b); err != nil {
				c.werr = err
				return err
			}
			return nil
		}
		n := copy(c.wbuf[len(c.wbuf):cap(c.wbuf)], b)
		c.wbuf = c.wbuf[:len(c.wbuf)+n]
		b = b[n:]
		if len(c.wbuf) == cap(c.wbuf) {
			if err := c.flushBuf(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Conn) flushBuf() error {
	var err error
	if c.z != nil {
		err = c.z.writeCompressed(c.nc, c.wbuf)
	} else {
		_, err = c.nc.Write(c.wbuf)
	}
	c.wbuf = c.wbuf[:0]
	if err != nil {
		c.werr = err
	}
	return err
}

// UpgradeTLS flushes pending output and runs a TLS handshake on the
// connection, as server or client, keeping the sequence id. Bytes the peer
// already sent (its TLS hello may arrive together with the SSLRequest) are
// handed to TLS.
func (c *Conn) UpgradeTLS(cfg *tls.Config, server bool) error {
	if c.z != nil {
		return errors.New("wire: TLS must be negotiated before compression")
	}
	if err := c.Flush(); err != nil {
		return err
	}
	base := c.takeBuffered()
	var tc *tls.Conn
	if server {
		tc = tls.Server(base, cfg)
	} else {
		tc = tls.Client(base, cfg)
	}
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("wire: TLS handshake: %w", err)
	}
	c.nc, c.tls = tc, true
	return nil
}

// TLSState returns the connection's TLS state; ok is false without TLS.
func (c *Conn) TLSState() (state tls.ConnectionState, ok bool) {
	if tc, isTLS := c.nc.(*tls.Conn); isTLS {
		return tc.ConnectionState(), true
	}
	return tls.ConnectionState{}, false
}

// takeBuffered empties rbuf and returns c.nc, wrapped so that the bytes
// that were buffered are read first.
func (c *Conn) takeBuffered() net.Conn {
	if c.r == c.w {
		c.r, c.w = 0, 0
		return c.nc
	}
	pc := &prefixConn{Conn: c.nc, buf: append([]byte(nil), c.rbuf[c.r:c.w]...)}
	c.r, c.w = 0, 0
	return pc
}

// prefixConn returns buf before reading from the connection.
type prefixConn struct {
	net.Conn
	buf []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.buf) > 0 {
		n := copy(b, p.buf)
		p.buf = p.buf[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}
