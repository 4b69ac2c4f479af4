package wire

import (
	"encoding/binary"
	"fmt"
)

// ReadLenEncInt decodes a length-encoded integer from the start of b. n is
// the number of bytes it used (0 when b is truncated or starts with the
// invalid 0xff); null reports the NULL marker 0xfb.
func ReadLenEncInt(b []byte) (v uint64, n int, null bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch b[0] {
	case 0xfb:
		return 0, 1, true
	case 0xfc:
		if len(b) < 3 {
			return 0, 0, false
		}
		return uint64(b[1]) | uint64(b[2])<<8, 3, false
	case 0xfd:
		if len(b) < 4 {
			return 0, 0, false
		}
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, 4, false
	case 0xfe:
		if len(b) < 9 {
			return 0, 0, false
		}
		return binary.LittleEndian.Uint64(b[1:9]), 9, false
	case 0xff:
		return 0, 0, false
	}
	return uint64(b[0]), 1, false
}

// AppendLenEncInt appends v as a length-encoded integer.
func AppendLenEncInt(dst []byte, v uint64) []byte {
	switch {
	case v < 0xfb:
		return append(dst, byte(v))
	case v <= 0xffff:
		return append(dst, 0xfc, byte(v), byte(v>>8))
	case v <= 0xffffff:
		return append(dst, 0xfd, byte(v), byte(v>>8), byte(v>>16))
	}
	return binary.LittleEndian.AppendUint64(append(dst, 0xfe), v)
}

// ReadLenEncString decodes a length-encoded string from the start of b. s
// points into b; n is the number of bytes used (0 when b is truncated or
// malformed); null reports the NULL marker.
func ReadLenEncString(b []byte) (s []byte, n int, null bool) {
	l, m, null := ReadLenEncInt(b)
	if m == 0 || null {
		return nil, m, null
	}
	if l > uint64(len(b)-m) {
		return nil, 0, false
	}
	end := m + int(l)
	return b[m:end:end], end, false
}

// AppendLenEncString appends s as a length-encoded string.
func AppendLenEncString(dst []byte, s string) []byte {
	return append(AppendLenEncInt(dst, uint64(len(s))), s...)
}

// appendLenEncBytes appends b as a length-encoded string.
func appendLenEncBytes(dst, b []byte) []byte {
	return append(AppendLenEncInt(dst, uint64(len(b))), b...)
}

// IsOK reports whether payload is an OK packet (header 0x00).
func IsOK(payload []byte) bool { return len(payload) > 0 && payload[0] == HeaderOK }

// IsErr reports whether payload is an ERR packet (header 0xff).
func IsErr(payload []byte) bool { return len(payload) > 0 && payload[0] == HeaderErr }

// IsEOFPacket reports whether payload is a classic EOF packet (0xfe, shorter
// than 9 bytes, so it cannot be a row or a length-encoded integer).
func IsEOFPacket(payload []byte) bool {
	return len(payload) > 0 && payload[0] == HeaderEOF && len(payload) < 9
}

// IsResultSetEnd reports whether a packet read where a row may appear ends
// the result set: a classic EOF or, with CLIENT_DEPRECATE_EOF, an OK packet
// with header 0xfe. A row can start with 0xfe only when its first value is
// at least 16 MiB long, so its packet is never shorter than MaxPayload. Pass
// the length of the whole logical packet (for ReadRaw, of the payload).
func IsResultSetEnd(payload []byte) bool {
	return len(payload) > 0 && payload[0] == HeaderEOF && len(payload) < MaxPayload
}

// OK is a decoded OK packet. Info and SessionState point into the payload.
type OK struct {
	AffectedRows, LastInsertID uint64
	Status, Warnings           uint16
	Info                       []byte
	SessionState               []byte // raw session-state changes (CLIENT_SESSION_TRACK and StatusSessionStateChanged)
}

// ParseOK decodes an OK packet (header 0x00, or 0xfe when it ends a result
// set with CLIENT_DEPRECATE_EOF) as sent to a client with capabilities caps.
func ParseOK(payload []byte, caps uint32) (OK, error) {
	var ok OK
	if len(payload) == 0 || (payload[0] != HeaderOK && payload[0] != HeaderEOF) {
		return ok, fmt.Errorf("%w: not an OK packet", ErrMalformed)
	}
	p := payload[1:]
	var n int
	if ok.AffectedRows, n, _ = ReadLenEncInt(p); n == 0 {
		return ok, fmt.Errorf("%w: OK packet: affected rows", ErrMalformed)
	}
	p = p[n:]
	if ok.LastInsertID, n, _ = ReadLenEncInt(p); n == 0 {
		return ok, fmt.Errorf("%w: OK packet: last insert id", ErrMalformed)
	}
	p = p[n:]
	switch {
	case caps&ClientProtocol41 != 0:
		if len(p) < 4 {
			return ok, fmt.Errorf("%w: OK packet: status", ErrMalformed)
		}
		ok.Status = binary.LittleEndian.Uint16(p)
		ok.Warnings = binary.LittleEndian.Uint16(p[2:])
		p = p[4:]
	case caps&ClientTransactions != 0:
		if len(p) < 2 {
			return ok, fmt.Errorf("%w: OK packet: status", ErrMalformed)
		}
		ok.Status = binary.LittleEndian.Uint16(p)
		p = p[2:]
	}
	if caps&ClientSessionTrack == 0 {
		if len(p) > 0 {
			ok.Info = p
		}
		return ok, nil
	}
	if len(p) == 0 { // servers omit an empty info when no state changed
		return ok, nil
	}
	if ok.Info, n, _ = ReadLenEncString(p); n == 0 {
		return ok, fmt.Errorf("%w: OK packet: info", ErrMalformed)
	}
	p = p[n:]
	if ok.Status&StatusSessionStateChanged != 0 && len(p) > 0 {
		if ok.SessionState, n, _ = ReadLenEncString(p); n == 0 {
			return ok, fmt.Errorf("%w: OK packet: session state", ErrMalformed)
		}
	}
	if len(ok.Info) == 0 {
		ok.Info = nil
	}
	return ok, nil
}

// AppendOK appends an OK packet payload for a client with capabilities caps.
// With CLIENT_SESSION_TRACK the info is length-encoded (and omitted when
// empty, as servers do).
func AppendOK(dst []byte, caps uint32, affected, insertID uint64, status, warnings uint16, info string) []byte {
	return appendOK(dst, HeaderOK, caps, affected, insertID, status, warnings, info)
}

// AppendResultSetEndOK appends the 0xfe OK packet that ends a result set
// for clients with CLIENT_DEPRECATE_EOF.
func AppendResultSetEndOK(dst []byte, caps uint32, status, warnings uint16) []byte {
	return appendOK(dst, HeaderEOF, caps, 0, 0, status, warnings, "")
}

func appendOK(dst []byte, header byte, caps uint32, affected, insertID uint64, status, warnings uint16, info string) []byte {
	dst = append(dst, header)
	dst = AppendLenEncInt(dst, affected)
	dst = AppendLenEncInt(dst, insertID)
	switch {
	case caps&ClientProtocol41 != 0:
		dst = append(dst, byte(status), byte(status>>8), byte(warnings), byte(warnings>>8))
	case caps&ClientTransactions != 0:
		dst = append(dst, byte(status), byte(status>>8))
	}
	if caps&ClientSessionTrack != 0 {
		if info != "" {
			dst = AppendLenEncString(dst, info)
		}
		return dst
	}
	return append(dst, info...)
}

// AppendErr appends an ERR packet payload (protocol 4.1 form with SQLSTATE).
// sqlState must be 5 characters; "HY000" is the generic state.
func AppendErr(dst []byte, code uint16, sqlState, msg string) []byte {
	dst = append(dst, HeaderErr, byte(code), byte(code>>8), '#')
	if len(sqlState) != 5 {
		sqlState = "HY000"
	}
	dst = append(dst, sqlState...)
	return append(dst, msg...)
}

// ParseErr decodes an ERR packet. Packets without the '#' SQLSTATE marker
// (sent before the 4.1 handshake completes) get state "HY000". A payload
// too short to be an ERR packet yields code 0.
func ParseErr(payload []byte) (code uint16, state, msg string) {
	if len(payload) < 3 || payload[0] != HeaderErr {
		return 0, "", ""
	}
	code = binary.LittleEndian.Uint16(payload[1:])
	p := payload[3:]
	if len(p) >= 6 && p[0] == '#' {
		return code, string(p[1:6]), string(p[6:])
	}
	return code, "HY000", string(p)
}

// Error is a server error: ERR packets from a backend, or sent by Accept.
type Error struct {
	Code    uint16
	State   string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("Error %d (%s): %s", e.Code, e.State, e.Message)
}

// errFromPacket converts an ERR payload to an *Error.
func errFromPacket(payload []byte) *Error {
	code, state, msg := ParseErr(payload)
	return &Error{Code: code, State: state, Message: msg}
}

// AppendEOF appends a classic EOF packet payload (protocol 4.1).
func AppendEOF(dst []byte, status, warnings uint16) []byte {
	return append(dst, HeaderEOF, byte(warnings), byte(warnings>>8), byte(status), byte(status>>8))
}

// ParseEOF decodes a classic EOF packet; ok is false if payload is not one.
func ParseEOF(payload []byte) (status, warnings uint16, ok bool) {
	if !IsEOFPacket(payload) {
		return 0, 0, false
	}
	if len(payload) < 5 { // pre-4.1 EOF: header only
		return 0, 0, true
	}
	return binary.LittleEndian.Uint16(payload[3:]), binary.LittleEndian.Uint16(payload[1:]), true
}

// SessionTrackGTID returns the last GTID in an OK packet's session state:
// MariaDB's "last_gtid" system variable (session_track_system_variables)
// or MySQL's SESSION_TRACK_GTIDS entry. It allocates nothing.
func SessionTrackGTID(sessionState []byte) (gtid []byte, ok bool) {
	p := sessionState
	for len(p) > 0 {
		typ := p[0]
		data, n, null := ReadLenEncString(p[1:])
		if n == 0 || null {
			return gtid, ok
		}
		p = p[1+n:]
		switch typ {
		case SessionTrackSystemVariables:
			name, n, _ := ReadLenEncString(data)
			if n == 0 || string(name) != "last_gtid" {
				continue
			}
			if v, m, _ := ReadLenEncString(data[n:]); m != 0 && len(v) > 0 {
				gtid, ok = v, true
			}
		case SessionTrackGTIDs:
			// One byte of encoding specification (0: the GTID set as text).
			if len(data) < 1 || data[0] != 0 {
				continue
			}
			if v, m, _ := ReadLenEncString(data[1:]); m != 0 && len(v) > 0 {
				gtid, ok = v, true
			}
		}
	}
	return gtid, ok
}

// AppendColumnDef appends a protocol-4.1 column definition for a synthetic
// result set (schema and table empty).
func AppendColumnDef(dst []byte, name string, colType byte, charset uint16, length uint32, flags uint16, decimals byte) []byte {
	dst = append(dst, 3, 'd', 'e', 'f', 0, 0, 0) // catalog "def", schema, table, org_table
	dst = AppendLenEncString(dst, name)
	dst = AppendLenEncString(dst, name) // org_name
	dst = append(dst, 0x0c, byte(charset), byte(charset>>8))
	dst = binary.LittleEndian.AppendUint32(dst, length)
	return append(dst, colType, byte(flags), byte(flags>>8), decimals, 0, 0)
}

// AppendTextRow appends a text-protocol row; a nil value is SQL NULL.
func AppendTextRow(dst []byte, values [][]byte) []byte {
	for _, v := range values {
		if v == nil {
			dst = append(dst, 0xfb)
			continue
		}
		dst = appendLenEncBytes(dst, v)
	}
	return dst
}

// WriteTextResult writes a complete text-protocol result set of string
// columns (type VARCHAR, utf8mb4) for a client with capabilities caps, ending
// with status; a nil value is NULL. It is for synthetic results such as the
// admin port's, not the relayed data path. It does not flush.
func WriteTextResult(c *Conn, caps uint32, columns []string, rows [][][]byte, status uint16) error {
	buf := AppendLenEncInt(nil, uint64(len(columns)))
	if err := c.WritePacket(buf); err != nil {
		return err
	}
	for _, name := range columns {
		buf = AppendColumnDef(buf[:0], name, TypeVarString, uint16(CharsetUTF8MB4GeneralCI), 1024, 0, 0)
		if err := c.WritePacket(buf); err != nil {
			return err
		}
	}
	if caps&ClientDeprecateEOF == 0 {
		if err := c.WritePacket(AppendEOF(buf[:0], status, 0)); err != nil {
			return err
		}
	}
	for _, row := range rows {
		if err := c.WritePacket(AppendTextRow(buf[:0], row)); err != nil {
			return err
		}
	}
	if caps&ClientDeprecateEOF != 0 {
		return c.WritePacket(AppendResultSetEndOK(buf[:0], caps, status, 0))
	}
	return c.WritePacket(AppendEOF(buf[:0], status, 0))
}
