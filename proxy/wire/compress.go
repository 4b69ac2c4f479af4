package wire

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
	"net"
)

// minCompressLength: payloads shorter than this are sent uncompressed, as
// the MySQL server and clients do.
const minCompressLength = 50

// compressor holds the state of the compression protocol (CLIENT_COMPRESS):
// each compressed packet has a 7-byte header (compressed length, own
// sequence id, uncompressed length or 0 when stored as is) and carries any
// number of bytes of the plain packet stream.
type compressor struct {
	seq uint8
	br  *bufio.Reader
	hdr [7]byte
	in  []byte // compressed payload being read
	src bytes.Reader
	zr  io.ReadCloser
	one [1]byte

	zw  *zlib.Writer
	out appendWriter // header + compressed payload being written
}

// appendWriter is an io.Writer that appends to a reusable slice.
type appendWriter struct{ b []byte }

func (a *appendWriter) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// EnableCompression switches both directions to the compression protocol.
// Call it right after the handshake's final OK was flushed (Accept and Dial do
// this themselves when compression was negotiated).
func (c *Conn) EnableCompression() error {
	if c.z != nil {
		return nil
	}
	if err := c.Flush(); err != nil {
		return err
	}
	z := &compressor{seq: c.seq, br: bufio.NewReaderSize(c.takeBuffered(), defaultBufSize)}
	// BestSpeed: the proxy sits on the hot path; ratios on SQL traffic are
	// close to the default level at a fraction of the CPU.
	zw, err := zlib.NewWriterLevel(&z.out, zlib.BestSpeed)
	if err != nil {
		return err
	}
	z.zw = zw
	c.z = z
	return nil
}

// readCompressed reads one compressed packet and appends its uncompressed
// bytes to c.rbuf.
func (c *Conn) readCompressed() error {
	z := c.z
	if _, err := io.ReadFull(z.br, z.hdr[:]); err != nil {
		if errors.Is(err, io.EOF) && c.w > c.r {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	clen := int(z.hdr[0]) | int(z.hdr[1])<<8 | int(z.hdr[2])<<16
	ulen := int(z.hdr[4]) | int(z.hdr[5])<<8 | int(z.hdr[6])<<16
	z.seq = z.hdr[3] + 1
	if limit := c.maxFrame(); clen > limit || ulen > limit {
		return fmt.Errorf("%w: compressed packet of %d bytes", ErrPacketTooLarge, max(clen, ulen))
	}
	if ulen == 0 { // stored uncompressed
		c.reserve(clen)
		if _, err := io.ReadFull(z.br, c.rbuf[c.w:c.w+clen]); err != nil {
			return noEOF(err)
		}
		c.w += clen
		return nil
	}
	if cap(z.in) < clen {
		z.in = make([]byte, clen)
	}
	in := z.in[:clen]
	if _, err := io.ReadFull(z.br, in); err != nil {
		return noEOF(err)
	}
	// zlib framing (RFC 1950) is unpacked here rather than by compress/zlib,
	// whose reader allocates on every reset: a 2-byte header without preset
	// dictionary, deflate data, and the Adler-32 of the output.
	if clen < 6 || in[0]&0x0f != 8 || (uint(in[0])<<8|uint(in[1]))%31 != 0 || in[1]&0x20 != 0 {
		return fmt.Errorf("%w: compressed packet without a zlib header", ErrMalformed)
	}
	z.src.Reset(in[2 : clen-4])
	if z.zr == nil {
		z.zr = flate.NewReader(&z.src)
	} else if err := z.zr.(flate.Resetter).Reset(&z.src, nil); err != nil {
		return fmt.Errorf("%w: compressed packet: %v", ErrMalformed, err)
	}
	c.reserve(ulen)
	out := c.rbuf[c.w : c.w+ulen]
	if _, err := io.ReadFull(z.zr, out); err != nil {
		return fmt.Errorf("%w: compressed packet shorter than its %d bytes: %v", ErrMalformed, ulen, err)
	}
	if n, err := z.zr.Read(z.one[:]); n != 0 || err != io.EOF {
		return fmt.Errorf("%w: compressed packet longer than its %d bytes or corrupt", ErrMalformed, ulen)
	}
	if adler32.Checksum(out) != binary.BigEndian.Uint32(in[clen-4:]) {
		return fmt.Errorf("%w: compressed packet checksum mismatch", ErrMalformed)
	}
	c.w += ulen
	return nil
}

// maxFrame bounds a compressed packet: one logical packet of MaxPacket
// bytes plus what a peer's network buffer (net_buffer_length, at most 1 MiB)
// may have gathered around it.
func (c *Conn) maxFrame() int {
	if c.MaxPacket <= 0 {
		return MaxPayload
	}
	return min(MaxPayload, c.MaxPacket+4+1<<20)
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// writeCompressed sends p as compressed packets of at most MaxPayload bytes.
func (z *compressor) writeCompressed(nc net.Conn, p []byte) error {
	for len(p) > 0 {
		chunk := p[:min(len(p), MaxPayload)]
		p = p[len(chunk):]
		z.out.b = append(z.out.b[:0], 0, 0, 0, 0, 0, 0, 0)
		ulen := 0
		if len(chunk) >= minCompressLength {
			z.zw.Reset(&z.out)
			if _, err := z.zw.Write(chunk); err != nil {
				return err
			}
			if err := z.zw.Close(); err != nil {
				return err
			}
			ulen = len(chunk)
			if len(z.out.b)-7 >= len(chunk) { // incompressible: store
				z.out.b, ulen = z.out.b[:7], 0
			}
		}
		if ulen == 0 {
			z.out.b = append(z.out.b, chunk...)
		}
		b := z.out.b
		clen := len(b) - 7
		b[0], b[1], b[2], b[3] = byte(clen), byte(clen>>8), byte(clen>>16), z.seq
		b[4], b[5], b[6] = byte(ulen), byte(ulen>>8), byte(ulen>>16)
		z.seq++
		if _, err := nc.Write(b); err != nil {
			return err
		}
	}
	return nil
}
