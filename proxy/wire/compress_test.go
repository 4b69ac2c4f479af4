package wire

import (
	"bytes"
	"compress/zlib"
	"errors"
	"io"
	"testing"
)

// compressedFrames splits a compressed stream into its frames and returns
// them with the plain stream they carry.
type frame struct {
	seq        uint8
	clen, ulen int
}

func compressedFrames(t *testing.T, stream []byte) (frames []frame, plain []byte) {
	t.Helper()
	for len(stream) > 0 {
		if len(stream) < 7 {
			t.Fatal("stream ends inside a compressed header")
		}
		f := frame{
			clen: int(stream[0]) | int(stream[1])<<8 | int(stream[2])<<16,
			seq:  stream[3],
			ulen: int(stream[4]) | int(stream[5])<<8 | int(stream[6])<<16,
		}
		body := stream[7 : 7+f.clen]
		stream = stream[7+f.clen:]
		if f.ulen == 0 {
			plain = append(plain, body...)
		} else {
			zr, err := zlib.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			u, err := io.ReadAll(zr)
			if err != nil || len(u) != f.ulen {
				t.Fatalf("frame inflates to %d bytes (%v), header says %d", len(u), err, f.ulen)
			}
			plain = append(plain, u...)
		}
		frames = append(frames, f)
	}
	return frames, plain
}

func compressedPair(t *testing.T) (*Conn, *memConn) {
	mc := &memConn{}
	c := NewConn(mc)
	if err := c.EnableCompression(); err != nil {
		t.Fatal(err)
	}
	return c, mc
}

func TestCompressionSmallPacketsShareAFrame(t *testing.T) {
	c, mc := compressedPair(t)
	c.WritePacket([]byte("tiny"))  // 8 bytes framed
	c.WritePacket([]byte("small")) // 9 bytes framed: 17 < 50, stored
	c.Flush()
	frames, plain := compressedFrames(t, mc.w.Bytes())
	if len(frames) != 1 || frames[0].ulen != 0 || frames[0].seq != 0 {
		t.Fatalf("frames %+v, want one stored frame with seq 0", frames)
	}
	if !bytes.Equal(plain, []byte("\x04\x00\x00\x00tiny\x05\x00\x00\x01small")) {
		t.Fatalf("plain stream %q", plain)
	}
	// Many compressible packets: one deflated frame, and the reader splits
	// them back into packets.
	c.ResetSeq()
	row := bytes.Repeat([]byte("row data "), 10)
	for range 100 {
		c.WritePacket(row)
	}
	c.Flush()
	frames, _ = compressedFrames(t, mc.w.Bytes())
	if last := frames[len(frames)-1]; last.ulen == 0 || last.clen >= last.ulen {
		t.Fatalf("row frame %+v not compressed", last)
	}
	r := NewConn(&memConn{r: bytes.NewReader(mc.w.Bytes())})
	r.EnableCompression()
	for _, want := range [][]byte{[]byte("tiny"), []byte("small")} {
		if got, err := r.ReadPacket(); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("got %q, %v", got, err)
		}
	}
	for i := range 100 {
		if got, err := r.ReadPacket(); err != nil || !bytes.Equal(got, row) {
			t.Fatalf("row %d: %q, %v", i, got, err)
		}
	}
}

func TestCompressionLargePacketsSpanFrames(t *testing.T) {
	for _, size := range []int{MaxPayload + 100} {
		c, mc := compressedPair(t)
		payload := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		c.WritePacket(payload)
		text := bytes.Repeat([]byte("compressible "), 100000) // deflated frames
		c.WritePacket(text)
		c.Flush()
		frames, plain := compressedFrames(t, mc.w.Bytes())
		if len(frames) < 2 {
			t.Fatalf("%d bytes in %d frames", size, len(frames))
		}
		for i, f := range frames {
			if f.seq != uint8(i) {
				t.Fatalf("frame %d has seq %d", i, f.seq)
			}
		}
		lengths, _ := physicalHeaders(t, plain)
		want := []int{MaxPayload, size - MaxPayload, len(text)}
		if !equalInts(lengths, want) {
			t.Fatalf("inner packets %v, want %v", lengths, want)
		}
		r := NewConn(&memConn{r: bytes.NewReader(mc.w.Bytes())})
		r.EnableCompression()
		if got, err := r.ReadPacket(); err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("%d bytes: got %d, %v", size, len(got), err)
		}
		if got, err := r.ReadPacket(); err != nil || !bytes.Equal(got, text) {
			t.Fatalf("text after %d bytes: got %d, %v", size, len(got), err)
		}
		if r.z.seq != uint8(len(frames)) {
			t.Errorf("reader compressed seq %d, want %d", r.z.seq, len(frames))
		}
	}
}

func TestCompressionRejectsCorruptFrames(t *testing.T) {
	var good bytes.Buffer
	zw := zlib.NewWriter(&good)
	zw.Write(bytes.Repeat([]byte{1, 0, 0, 0, 'a'}, 20))
	zw.Close()
	body := good.Bytes()
	frameOf := func(body []byte, ulen int) []byte {
		return append([]byte{byte(len(body)), byte(len(body) >> 8), 0, 0, byte(ulen), 0, 0}, body...)
	}
	corrupt := append([]byte(nil), body...)
	corrupt[len(corrupt)-1] ^= 0xff // checksum
	for name, stream := range map[string][]byte{
		"bad checksum":   frameOf(corrupt, 100),
		"ulen too large": frameOf(body, 101),
		"ulen too small": frameOf(body, 99),
		"not zlib":       frameOf([]byte("definitely not deflate data"), 100),
	} {
		r := NewConn(&memConn{r: bytes.NewReader(stream)})
		r.EnableCompression()
		if _, err := r.ReadPacket(); !errors.Is(err, ErrMalformed) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestEnableCompressionKeepsBufferedBytes(t *testing.T) {
	// A client may send its first compressed command right behind the
	// packet that completed the handshake.
	var w memConn
	plain := NewConn(&w)
	plain.WritePacket([]byte("handshake"))
	plain.Flush()
	cw := NewConn(&w)
	cw.EnableCompression()
	cw.WritePacket(append([]byte{ComQuery}, "select 1"...))
	cw.Flush()
	r := NewConn(&memConn{r: bytes.NewReader(w.w.Bytes())})
	if p, err := r.ReadPacket(); err != nil || string(p) != "handshake" {
		t.Fatal(string(p), err)
	}
	r.EnableCompression()
	r.ResetSeq()
	if p, err := r.ReadPacket(); err != nil || string(p[1:]) != "select 1" {
		t.Fatal(string(p), err)
	}
}
