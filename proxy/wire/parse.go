package wire

import (
	"bytes"
	"encoding/binary"
)

// parser reads fields from a packet payload. A read past the end marks it
// bad and returns zero values, so a decoder checks p.bad once at the end
// instead of guarding every field, and never panics on truncated input.
type parser struct {
	b   []byte
	bad bool
}

func (p *parser) byte() byte {
	if len(p.b) < 1 {
		p.bad = true
		return 0
	}
	v := p.b[0]
	p.b = p.b[1:]
	return v
}

func (p *parser) uint16() uint16 {
	if len(p.b) < 2 {
		p.bad, p.b = true, nil
		return 0
	}
	v := binary.LittleEndian.Uint16(p.b)
	p.b = p.b[2:]
	return v
}

func (p *parser) uint32() uint32 {
	if len(p.b) < 4 {
		p.bad, p.b = true, nil
		return 0
	}
	v := binary.LittleEndian.Uint32(p.b)
	p.b = p.b[4:]
	return v
}

func (p *parser) bytes(n int) []byte {
	if n < 0 || len(p.b) < n {
		p.bad, p.b = true, nil
		return nil
	}
	v := p.b[:n:n]
	p.b = p.b[n:]
	return v
}

// nulString reads a NUL-terminated string; a missing NUL is an error.
func (p *parser) nulString() []byte {
	i := bytes.IndexByte(p.b, 0)
	if i < 0 {
		p.bad, p.b = true, nil
		return nil
	}
	v := p.b[:i:i]
	p.b = p.b[i+1:]
	return v
}

// nulStringOrEnd reads a string terminated by NUL or by the end of the
// payload (some servers omit the final NUL of the auth plugin name).
func (p *parser) nulStringOrEnd() []byte {
	if i := bytes.IndexByte(p.b, 0); i >= 0 {
		return p.nulString()
	}
	v := p.b
	p.b = nil
	return v
}

func (p *parser) lenEncInt() uint64 {
	v, n, _ := ReadLenEncInt(p.b)
	if n == 0 {
		p.bad, p.b = true, nil
		return 0
	}
	p.b = p.b[n:]
	return v
}

func (p *parser) lenEncString() []byte {
	v, n, _ := ReadLenEncString(p.b)
	if n == 0 {
		p.bad, p.b = true, nil
		return nil
	}
	p.b = p.b[n:]
	return v
}

func (p *parser) empty() bool { return len(p.b) == 0 }
