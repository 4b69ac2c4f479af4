package wire

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// memConn is a net.Conn whose reads come from r and whose writes go to w,
// for exact checks of the bytes on the wire.
type memConn struct {
	r io.Reader
	w bytes.Buffer
}

func (m *memConn) Read(b []byte) (int, error)         { return m.r.Read(b) }
func (m *memConn) Write(b []byte) (int, error)        { return m.w.Write(b) }
func (m *memConn) Close() error                       { return nil }
func (m *memConn) LocalAddr() net.Addr                { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (m *memConn) RemoteAddr() net.Addr               { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (m *memConn) SetDeadline(t time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(t time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(t time.Time) error { return nil }

func randomBytes(n int, seed uint64) []byte {
	var key [32]byte
	key[0] = byte(seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// physicalHeaders splits a plain packet stream into its headers.
func physicalHeaders(t *testing.T, stream []byte) (lengths []int, seqs []uint8) {
	t.Helper()
	for len(stream) > 0 {
		if len(stream) < 4 {
			t.Fatalf("stream ends inside a header")
		}
		n := int(stream[0]) | int(stream[1])<<8 | int(stream[2])<<16
		lengths, seqs = append(lengths, n), append(seqs, stream[3])
		if len(stream) < 4+n {
			t.Fatalf("stream ends inside a payload")
		}
		stream = stream[4+n:]
	}
	return lengths, seqs
}

func TestWritePacketSplitsAtMaxPayload(t *testing.T) {
	cases := []struct {
		size    int
		lengths []int
	}{
		{0, []int{0}},
		{1, []int{1}},
		{defaultBufSize, []int{defaultBufSize}},
		{MaxPayload - 1, []int{MaxPayload - 1}},
		{MaxPayload, []int{MaxPayload, 0}},
		{MaxPayload + 1, []int{MaxPayload, 1}},
	}
	for _, tc := range cases {
		mc := &memConn{}
		c := NewConn(mc)
		c.SetSeq(254) // sequence ids wrap around
		payload := randomBytes(tc.size, uint64(tc.size))
		if err := c.WritePacket(payload); err != nil {
			t.Fatal(err)
		}
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		lengths, seqs := physicalHeaders(t, mc.w.Bytes())
		if !equalInts(lengths, tc.lengths) {
			t.Errorf("size %d: physical lengths %v, want %v", tc.size, lengths, tc.lengths)
		}
		for i, s := range seqs {
			if want := uint8(254 + i); s != want {
				t.Errorf("size %d: packet %d has seq %d, want %d", tc.size, i, s, want)
			}
		}
		// Read it back as one logical packet.
		rc := NewConn(&memConn{r: bytes.NewReader(mc.w.Bytes())})
		rc.SetSeq(254)
		got, err := rc.ReadPacket()
		if err != nil {
			t.Fatalf("size %d: %v", tc.size, err)
		}
		if !bytes.Equal(got, payload) {
			t.Errorf("size %d: payload differs after round trip (got %d bytes)", tc.size, len(got))
		}
		if rc.Seq() != c.Seq() {
			t.Errorf("size %d: reader seq %d, writer seq %d", tc.size, rc.Seq(), c.Seq())
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReadPacketSequenceMismatch(t *testing.T) {
	stream := []byte{1, 0, 0, 0, 'a', 1, 0, 0, 5, 'b'}
	c := NewConn(&memConn{r: bytes.NewReader(stream)})
	if p, err := c.ReadPacket(); err != nil || string(p) != "a" {
		t.Fatalf("first packet: %q, %v", p, err)
	}
	_, err := c.ReadPacket()
	var se *SequenceError
	if !errors.As(err, &se) || se.Got != 5 || se.Want != 1 {
		t.Fatalf("err = %v, want SequenceError got 5 want 1", err)
	}
}

func TestReadPacketContinuationSequenceChecked(t *testing.T) {
	var stream bytes.Buffer
	stream.Write([]byte{0xff, 0xff, 0xff, 0})
	stream.Write(make([]byte, MaxPayload))
	stream.Write([]byte{0, 0, 0, 7}) // should be 1
	c := NewConn(&memConn{r: &stream})
	var se *SequenceError
	if _, err := c.ReadPacket(); !errors.As(err, &se) {
		t.Fatalf("err = %v, want SequenceError", err)
	}
}

func TestReadPacketMaxPacket(t *testing.T) {
	// The header alone must be rejected: the payload is never sent.
	c := NewConn(&memConn{r: bytes.NewReader([]byte{0, 0, 1, 0})}) // 64 KiB declared
	c.MaxPacket = 1000
	if _, err := c.ReadPacket(); !errors.Is(err, ErrPacketTooLarge) {
		t.Fatalf("err = %v, want ErrPacketTooLarge", err)
	}
	// A logical packet over the limit made of physical packets under it.
	mc := &memConn{}
	w := NewConn(mc)
	if err := w.WritePacket(make([]byte, MaxPayload+10)); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	r := NewConn(&memConn{r: bytes.NewReader(mc.w.Bytes())})
	r.MaxPacket = MaxPayload + 5
	if _, err := r.ReadPacket(); !errors.Is(err, ErrPacketTooLarge) {
		t.Fatalf("err = %v, want ErrPacketTooLarge", err)
	}
	// Exactly at the limit is accepted.
	r = NewConn(&memConn{r: bytes.NewReader(mc.w.Bytes())})
	r.MaxPacket = MaxPayload + 10
	if p, err := r.ReadPacket(); err != nil || len(p) != MaxPayload+10 {
		t.Fatalf("len %d, err %v", len(p), err)
	}
}

func TestReadPacketTruncated(t *testing.T) {
	for _, stream := range [][]byte{{5, 0}, {5, 0, 0, 0, 'a', 'b'}} {
		c := NewConn(&memConn{r: bytes.NewReader(stream)})
		if _, err := c.ReadPacket(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%v: err = %v, want io.ErrUnexpectedEOF", stream, err)
		}
	}
	c := NewConn(&memConn{r: bytes.NewReader(nil)})
	if _, err := c.ReadPacket(); err != io.EOF {
		t.Errorf("empty stream: err = %v, want io.EOF", err)
	}
}

func TestReadRawRelaysPhysicalPackets(t *testing.T) {
	mc := &memConn{}
	w := NewConn(mc)
	w.SetSeq(1)
	big := bytes.Repeat([]byte("0123456789abcdef"), (MaxPayload+3)/16+1)[:MaxPayload+3]
	for _, p := range [][]byte{[]byte("column"), big, {}} {
		if err := w.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	src := NewConn(&memConn{r: bytes.NewReader(mc.w.Bytes())})
	src.SetSeq(1)
	out := &memConn{}
	dst := NewConn(out)
	var n int
	for {
		pkt, err := src.ReadRaw()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pkt[3] += 10 // relays renumber, e.g. after the proxy answered a packet itself
		if err := dst.WriteRaw(pkt); err != nil {
			t.Fatal(err)
		}
		n++
	}
	dst.Flush()
	if n != 4 {
		t.Fatalf("relayed %d physical packets, want 4", n)
	}
	if dst.Seq() != 15 {
		t.Errorf("dst seq %d, want 15", dst.Seq())
	}
	r := NewConn(&memConn{r: bytes.NewReader(out.w.Bytes())})
	r.SetSeq(11)
	for i, want := range [][]byte{[]byte("column"), big, {}} {
		got, err := r.ReadPacket()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("packet %d: %d bytes, err %v", i, len(got), err)
		}
	}
}

func TestWriteRawRejectsBadHeader(t *testing.T) {
	c := NewConn(&memConn{})
	if err := c.WriteRaw([]byte{5, 0, 0, 0, 'a'}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
}

func TestBufferedDetectsPipelining(t *testing.T) {
	stream := []byte{1, 0, 0, 0, ComPing, 1, 0, 0, 0, ComPing}
	c := NewConn(&memConn{r: bytes.NewReader(stream)})
	if _, err := c.ReadPacket(); err != nil {
		t.Fatal(err)
	}
	if c.Buffered() != 5 {
		t.Fatalf("Buffered = %d, want 5", c.Buffered())
	}
}

func TestReadBufferShrinksAfterLargePacket(t *testing.T) {
	mc := &memConn{}
	w := NewConn(mc)
	w.WritePacket(make([]byte, 1<<20))
	w.WritePacket(make([]byte, 1<<20))
	for range shrinkAfter + 1 {
		w.WritePacket([]byte("small"))
	}
	w.Flush()
	r := NewConn(&memConn{r: bytes.NewReader(mc.w.Bytes())})
	if p, err := r.ReadPacket(); err != nil || len(p) != 1<<20 {
		t.Fatal(len(p), err)
	}
	grown := &r.rbuf[0]
	// Consecutive large packets reuse the grown buffer.
	if p, err := r.ReadPacket(); err != nil || len(p) != 1<<20 || &r.rbuf[0] != grown {
		t.Fatal("second large packet reallocated the read buffer", len(p), err)
	}
	for range shrinkAfter + 1 {
		if p, err := r.ReadPacket(); err != nil || string(p) != "small" {
			t.Fatal(string(p), err)
		}
	}
	if len(r.rbuf) != defaultBufSize {
		t.Fatalf("read buffer is %d bytes after the large packet, want %d", len(r.rbuf), defaultBufSize)
	}
}

func TestWriteErrorIsSticky(t *testing.T) {
	a, b := net.Pipe()
	b.Close()
	c := NewConn(a)
	c.WritePacket([]byte("x"))
	if err := c.Flush(); err == nil {
		t.Fatal("flush to a closed pipe succeeded")
	}
	if err := c.WritePacket(make([]byte, 10)); err == nil {
		t.Fatal("write after a failed flush succeeded")
	}
}
