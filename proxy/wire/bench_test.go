package wire

import (
	"bytes"
	"io"
	"strconv"
	"testing"
)

// framed returns payloads framed as plain packets starting at seq.
func framed(seq uint8, payloads ...[]byte) []byte {
	var mc memConn
	c := NewConn(&mc)
	c.SetSeq(seq)
	for _, p := range payloads {
		c.WritePacket(p)
	}
	c.Flush()
	return mc.w.Bytes()
}

// loopReader serves the same bytes forever.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m := copy(b[n:], l.data[l.off:])
		n += m
		l.off = (l.off + m) % len(l.data)
	}
	return n, nil
}

// discardConn is a memConn whose writes are dropped.
type discardConn struct{ memConn }

func (d *discardConn) Write(b []byte) (int, error) { return io.Discard.Write(b) }

// BenchmarkReadWritePacket is the proxy's steady state: read a command,
// write a response, flush. It must report 0 allocs/op.
func BenchmarkReadWritePacket(b *testing.B) {
	for _, size := range []int{32, 1024, 64 << 10} {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			c := NewConn(&discardConn{memConn{r: &loopReader{data: framed(0, make([]byte, size))}}})
			resp := make([]byte, size)
			b.SetBytes(int64(2 * size))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				c.ResetSeq()
				p, err := c.ReadPacket()
				if err != nil || len(p) != size {
					b.Fatal(err)
				}
				c.WritePacket(resp)
				if err := c.Flush(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRelayRaw is result streaming: physical packets relayed as is.
func BenchmarkRelayRaw(b *testing.B) {
	row := AppendTextRow(nil, [][]byte{[]byte("12345"), []byte("some varchar value"), nil})
	var stream []byte
	for range 1000 {
		stream = append(stream, framed(1, row)...)
	}
	src := NewConn(&memConn{r: &loopReader{data: stream}})
	dst := NewConn(&discardConn{})
	b.SetBytes(int64(len(row) + 4))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		src.SetSeq(1)
		p, err := src.ReadRaw()
		if err != nil {
			b.Fatal(err)
		}
		if err := dst.WriteRaw(p); err != nil {
			b.Fatal(err)
		}
		if src.Buffered() == 0 {
			dst.Flush()
		}
	}
}

// BenchmarkCompressedReadWrite measures the compression protocol.
func BenchmarkCompressedReadWrite(b *testing.B) {
	payload := bytes.Repeat([]byte("SELECT c FROM sbtest1 WHERE id = 4242; "), 25)
	var stream memConn
	w := NewConn(&stream)
	w.EnableCompression()
	w.WritePacket(payload)
	w.Flush()
	r := NewConn(&memConn{r: &loopReader{data: stream.w.Bytes()}})
	r.EnableCompression()
	out := NewConn(&discardConn{})
	out.EnableCompression()
	b.SetBytes(int64(2 * len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r.ResetSeq()
		p, err := r.ReadPacket()
		if err != nil {
			b.Fatal(err)
		}
		out.WritePacket(p)
		out.Flush()
	}
}

func TestSteadyStateZeroAlloc(t *testing.T) {
	c := NewConn(&discardConn{memConn{r: &loopReader{data: framed(0, []byte("SELECT 1"))}}})
	resp := AppendOK(nil, capturedCaps, 1, 0, StatusAutocommit, 0, "")
	allocs := testing.AllocsPerRun(1000, func() {
		c.ResetSeq()
		if _, err := c.ReadPacket(); err != nil {
			t.Fatal(err)
		}
		c.WritePacket(resp)
		c.Flush()
	})
	if allocs != 0 {
		t.Errorf("read+write+flush allocates %.1f times", allocs)
	}
}

func TestCompressedSteadyStateZeroAlloc(t *testing.T) {
	payload := bytes.Repeat([]byte("SELECT c FROM sbtest1 WHERE id = 4242; "), 25)
	var stream memConn
	w := NewConn(&stream)
	w.EnableCompression()
	w.WritePacket(payload)
	w.Flush()
	c := NewConn(&discardConn{memConn{r: &loopReader{data: stream.w.Bytes()}}})
	c.EnableCompression()
	step := func() {
		c.ResetSeq()
		if p, err := c.ReadPacket(); err != nil || !bytes.Equal(p, payload) {
			t.Fatal(err)
		}
		c.WritePacket(payload)
		c.Flush()
	}
	step() // the first packet sets up the zlib state
	if allocs := testing.AllocsPerRun(100, step); allocs != 0 {
		t.Errorf("compressed read+write+flush allocates %.1f times", allocs)
	}
}
