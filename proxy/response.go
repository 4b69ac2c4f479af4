package proxy

import (
	"fmt"

	"github.com/switchyard/switchyard/proxy/wire"
)

// pktKind is what one physical packet of a backend response is.
type pktKind uint8

const (
	pktOK        pktKind = iota // OK: a whole response or, with DEPRECATE_EOF, the end of rows
	pktErr                      // ERR: ends the response
	pktEOF                      // EOF after column definitions or rows
	pktInfile                   // LOCAL INFILE request: the client's file must follow
	pktColCount                 // start of a result set
	pktColDef                   // column or parameter definition
	pktRow                      // a text or binary row
	pktPrepareOK                // first packet of a COM_STMT_PREPARE response
	pktString                   // COM_STATISTICS reply
	pktCont                     // continuation of a packet of 16 MiB or more
)

// phase is what the next packet of a response is expected to be.
type phase uint8

const (
	phFirst       phase = iota // OK, ERR, LOCAL INFILE or a column count
	phCols                     // column definitions
	phColsEOF                  // the EOF after column definitions
	phRows                     // rows until EOF/OK/ERR
	phPrepare                  // COM_STMT_PREPARE: prepare-OK or ERR
	phParams                   // parameter definitions of a prepare response
	phParamsEOF                // the EOF after them
	phPrepCols                 // column definitions of a prepare response
	phPrepColsEOF              // the EOF after them
	phString                   // one string packet (COM_STATISTICS)
	phSimple                   // one OK/ERR/EOF
	phDone
)

// responseReader walks one backend response packet by packet without
// decoding rows, tracking just enough of the protocol to know where it ends.
// Packets are the backend conn's buffer: valid until the next read.
type responseReader struct {
	b            *backend
	ph           phase
	deprecateEOF bool
	cols, params uint64
	cont         bool   // the next physical packet continues the current one
	status       uint16 // status flags of the last OK/EOF
	hasStatus    bool
	stmtID       uint32 // backend statement id of a prepare response
}

func (r *responseReader) init(b *backend) { r.initPhase(b, phFirst) }

func (r *responseReader) initPhase(b *backend, ph phase) {
	*r = responseReader{b: b, ph: ph, deprecateEOF: b.caps&wire.ClientDeprecateEOF != 0}
}

// more reports whether the response has packets left.
func (r *responseReader) more() bool { return r.ph != phDone }

// afterInfile is called once the client's file was relayed: the server's
// final OK or ERR follows.
func (r *responseReader) afterInfile() { r.ph = phFirst }

// next reads the next physical packet of the response.
func (r *responseReader) next() ([]byte, pktKind, error) {
	pkt, err := r.b.c.ReadRaw()
	if err != nil {
		return nil, 0, err
	}
	payload := pkt[4:]
	if r.cont {
		r.cont = len(payload) == wire.MaxPayload
		return pkt, pktCont, nil
	}
	r.cont = len(payload) == wire.MaxPayload
	if len(payload) == 0 {
		return nil, 0, fmt.Errorf("%w: empty packet in response", wire.ErrMalformed)
	}
	kind, err := r.classify(payload)
	return pkt, kind, err
}

func (r *responseReader) classify(p []byte) (pktKind, error) {
	h := p[0]
	// A terminator: ERR, or 0xFE shorter than a maximal packet (a row can
	// only start with 0xFE as an 8-byte length prefix, making it huge).
	isErr := h == wire.HeaderErr
	isEnd := h == wire.HeaderEOF && len(p) < wire.MaxPayload
	switch r.ph {
	case phFirst:
		switch {
		case isErr:
			r.ph = phDone
			return pktErr, nil
		case h == wire.HeaderOK:
			return pktOK, r.endStatus(p, true)
		case h == wire.HeaderLocalInfile:
			r.ph = phDone // the caller relays the file, then calls afterInfile
			return pktInfile, nil
		case isEnd:
			return pktEOF, fmt.Errorf("%w: EOF instead of a result", wire.ErrMalformed)
		}
		n, _, ok := lenEncInt(p)
		if !ok || n == 0 {
			return 0, fmt.Errorf("%w: bad column count", wire.ErrMalformed)
		}
		r.cols, r.ph = n, phCols
		return pktColCount, nil
	case phCols, phParams, phPrepCols:
		if isErr {
			r.ph = phDone
			return pktErr, nil
		}
		if r.ph == phParams {
			if r.params--; r.params == 0 {
				r.ph = r.after(phParamsEOF, r.cols > 0, phPrepCols)
			}
			return pktColDef, nil
		}
		if r.cols--; r.cols == 0 {
			if r.ph == phCols {
				r.ph = phRows
				if !r.deprecateEOF {
					r.ph = phColsEOF
				}
			} else {
				r.ph = phDone
				if !r.deprecateEOF {
					r.ph = phPrepColsEOF
				}
			}
		}
		return pktColDef, nil
	case phColsEOF:
		if isErr {
			r.ph = phDone
			return pktErr, nil
		}
		if !isEnd {
			return 0, fmt.Errorf("%w: expected EOF after column definitions", wire.ErrMalformed)
		}
		st, _, _ := wire.ParseEOF(p)
		r.status, r.hasStatus = st, true
		r.ph = phRows
		if st&wire.StatusCursorExists != 0 {
			r.ph = phDone // a cursor was opened: rows come with COM_STMT_FETCH
		}
		return pktEOF, nil
	case phRows:
		switch {
		case isErr:
			r.ph = phDone
			return pktErr, nil
		case isEnd:
			if r.deprecateEOF && len(p) >= 7 {
				return pktOK, r.endStatus(p, false)
			}
			st, _, _ := wire.ParseEOF(p)
			r.status, r.hasStatus = st, true
			r.ph = phDone
			if st&wire.StatusMoreResultsExists != 0 {
				r.ph = phFirst
			}
			return pktEOF, nil
		}
		return pktRow, nil
	case phPrepare:
		if isErr {
			r.ph = phDone
			return pktErr, nil
		}
		if h != wire.HeaderOK || len(p) < 12 {
			return 0, fmt.Errorf("%w: bad prepare response", wire.ErrMalformed)
		}
		r.stmtID = uint32(p[1]) | uint32(p[2])<<8 | uint32(p[3])<<16 | uint32(p[4])<<24
		r.cols = uint64(p[5]) | uint64(p[6])<<8
		r.params = uint64(p[7]) | uint64(p[8])<<8
		switch {
		case r.params > 0:
			r.ph = phParams
		case r.cols > 0:
			r.ph = phPrepCols
		default:
			r.ph = phDone
		}
		return pktPrepareOK, nil
	case phParamsEOF, phPrepColsEOF:
		if !isEnd {
			return 0, fmt.Errorf("%w: expected EOF in prepare response", wire.ErrMalformed)
		}
		r.ph = r.after(phDone, r.ph == phParamsEOF && r.cols > 0, phPrepCols)
		return pktEOF, nil
	case phString:
		r.ph = phDone
		if isErr {
			return pktErr, nil
		}
		return pktString, nil
	case phSimple:
		r.ph = phDone
		switch {
		case isErr:
			return pktErr, nil
		case h == wire.HeaderOK:
			return pktOK, r.endStatus(p, true)
		case isEnd:
			st, _, _ := wire.ParseEOF(p)
			r.status, r.hasStatus = st, true
			return pktEOF, nil
		}
		return 0, fmt.Errorf("%w: expected OK", wire.ErrMalformed)
	}
	return 0, fmt.Errorf("%w: packet after the end of the response", wire.ErrMalformed)
}

// after picks the phase following a definitions block: its EOF unless
// DEPRECATE_EOF, else next when cond holds, else the end.
func (r *responseReader) after(eof phase, cond bool, next phase) phase {
	if eof != phDone && !r.deprecateEOF {
		return eof
	}
	if cond {
		return next
	}
	return phDone
}

// endStatus reads an OK packet's status; more results continue the response.
func (r *responseReader) endStatus(p []byte, first bool) error {
	st, ok := okStatus(p)
	if !ok {
		return fmt.Errorf("%w: truncated OK packet", wire.ErrMalformed)
	}
	r.status, r.hasStatus = st, true
	r.ph = phDone
	if st&wire.StatusMoreResultsExists != 0 {
		r.ph = phFirst
	}
	return nil
}

// okStatus returns the status flags of an OK packet (header 0x00 or 0xFE).
func okStatus(p []byte) (uint16, bool) {
	i := 1
	for k := 0; k < 2; k++ { // affected rows, last insert id
		_, n, ok := lenEncInt(p[i:])
		if !ok {
			return 0, false
		}
		i += n
	}
	if len(p) < i+2 {
		return 0, false
	}
	return uint16(p[i]) | uint16(p[i+1])<<8, true
}

// okAffected returns an OK packet's affected-rows count.
func okAffected(p []byte) uint64 {
	v, _, _ := lenEncInt(p[1:])
	return v
}

// lenEncInt decodes a length-encoded integer without allocating; ok is false
// when b is truncated or holds the NULL marker.
func lenEncInt(b []byte) (v uint64, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch b[0] {
	case 0xfb, 0xff:
		return 0, 1, false
	case 0xfc:
		if len(b) < 3 {
			return 0, 0, false
		}
		return uint64(b[1]) | uint64(b[2])<<8, 3, true
	case 0xfd:
		if len(b) < 4 {
			return 0, 0, false
		}
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, 4, true
	case 0xfe:
		if len(b) < 9 {
			return 0, 0, false
		}
		v = 0
		for i := 8; i >= 1; i-- {
			v = v<<8 | uint64(b[i])
		}
		return v, 9, true
	}
	return uint64(b[0]), 1, true
}

// readLenEncString decodes a length-encoded string; null reports SQL NULL.
func readLenEncString(b []byte) (s []byte, n int, null, ok bool) {
	if len(b) > 0 && b[0] == 0xfb {
		return nil, 1, true, true
	}
	l, k, ok := lenEncInt(b)
	if !ok || uint64(len(b)-k) < l {
		return nil, 0, false, false
	}
	return b[k : k+int(l)], k + int(l), false, true
}
