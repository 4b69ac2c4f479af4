package wire

import (
	"bytes"
	"testing"
)

// FuzzReadPacket feeds arbitrary byte streams to ReadPacket and ReadRaw,
// plain and compressed: no panics, no packet over MaxPacket, and buffers
// bounded by MaxPacket rather than by what a header claims.
func FuzzReadPacket(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, ComPing}, false, uint16(100))
	f.Add([]byte{0xff, 0xff, 0xff, 0, 1, 0, 0, 1}, false, uint16(0xffff))
	f.Add([]byte{5, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 'a'}, true, uint16(100))
	f.Add(append([]byte{12, 0, 0, 0, 5, 0, 0}, 0x78, 0x9c, 0x62, 0x64, 0x60, 0x60, 0x48, 0x04, 0x04, 0x00, 0x00, 0xff, 0xff), true, uint16(100))
	var c memConn
	w := NewConn(&c)
	w.EnableCompression()
	w.WritePacket(bytes.Repeat([]byte("select 1 from dual "), 10))
	w.WritePacket([]byte("ok"))
	w.Flush()
	f.Add(c.w.Bytes(), true, uint16(1000))
	f.Fuzz(func(t *testing.T, data []byte, compressed bool, maxPacket uint16) {
		for _, raw := range []bool{false, true} {
			r := NewConn(&memConn{r: bytes.NewReader(data)})
			r.MaxPacket = int(maxPacket) + 1
			if compressed {
				r.EnableCompression()
			}
			bound := roundBuf(2*(r.MaxPacket+4) + 1<<20)
			for range 64 {
				var p []byte
				var err error
				if raw {
					p, err = r.ReadRaw()
					if err == nil && len(p)-4 > r.MaxPacket {
						t.Fatalf("ReadRaw returned %d payload bytes, MaxPacket %d", len(p)-4, r.MaxPacket)
					}
				} else {
					p, err = r.ReadPacket()
					if err == nil && len(p) > r.MaxPacket {
						t.Fatalf("ReadPacket returned %d bytes, MaxPacket %d", len(p), r.MaxPacket)
					}
				}
				if len(r.rbuf) > bound || (r.z != nil && cap(r.z.in) > bound) {
					t.Fatalf("buffers grew to %d/%d bytes with MaxPacket %d", len(r.rbuf), cap(r.z.in), r.MaxPacket)
				}
				if err != nil {
					break
				}
				r.ResetSeq()
			}
		}
	})
}

// FuzzHandshakeResponse feeds arbitrary handshake responses (and
// COM_CHANGE_USER payloads) to the server side: errors, never panics.
func FuzzHandshakeResponse(f *testing.F) {
	good := appendClientCapsHeader(nil, DefaultClientCaps, CharsetUTF8MB4GeneralCI)
	good = append(good, "app\x00"...)
	good = appendLenEncBytes(good, make([]byte, 20))
	good = append(good, "db\x00"+AuthNativePassword+"\x00"...)
	good = appendLenEncBytes(good, AppendLenEncString(AppendLenEncString(nil, "_client_name"), "fuzz"))
	f.Add(good)
	f.Add(appendClientCapsHeader(nil, DefaultClientCaps|ClientSSL, CharsetUTF8MB4GeneralCI))
	f.Add(append([]byte{ComChangeUser}, "app\x00\x14aaaaaaaaaaaaaaaaaaaadb\x00\x2d\x00mysql_native_password\x00"...))
	f.Add([]byte("\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if r, err := parseHandshakeResponse(data); err == nil && r.caps&ClientProtocol41 == 0 {
			t.Fatal("accepted a pre-4.1 response")
		}
		parseChangeUser(data, DefaultServerCaps)
		parseChangeUser(data, ClientProtocol41)
		// The whole server handshake, with data as the client's response.
		c := NewConn(&memConn{r: bytes.NewReader(framed(1, data))})
		c.MaxPacket = 1 << 16
		cfg := &HandshakeConfig{
			Lookup:           func(u string) (string, bool) { return "pw", u == "app" },
			DefaultAuth:      AuthCachingSHA2,
			CachingSHA2Cache: NewSHA2Cache(),
		}
		if hello, err := Accept(c, cfg); err == nil && hello.User != "app" {
			t.Fatalf("logged in as %q", hello.User)
		}
	})
}

// FuzzParseOK decodes arbitrary payloads with every codec that reads
// server responses: errors, never panics, never reads out of bounds.
func FuzzParseOK(f *testing.F) {
	for _, p := range [][]byte{capturedInsert, capturedCreate, capturedUse, capturedBegin, capturedEndOK, capturedErr} {
		f.Add(p, capturedCaps)
	}
	f.Add([]byte{0, 0, 0, 0, 0x40, 0, 0, 0, 5, 0, 3, 1, 'x', 2}, ClientProtocol41|ClientSessionTrack)
	f.Fuzz(func(t *testing.T, data []byte, caps uint32) {
		ok, err := ParseOK(data, caps)
		if err == nil {
			SessionTrackGTID(ok.SessionState)
			if len(ok.Info)+len(ok.SessionState) > len(data) {
				t.Fatal("fields longer than the packet")
			}
		}
		SessionTrackGTID(data)
		ParseErr(data)
		ParseEOF(data)
		ReadLenEncString(data)
		parseServerHandshake(data)
	})
}
