package wire

import (
	"bytes"
	"net"
	"testing"
)

// rawLogin logs in to s with mysql_native_password by hand and returns the
// connection and the server's scramble, which COM_CHANGE_USER reuses.
func rawLogin(t *testing.T, s *testServer, user, pw string) (*Conn, []byte) {
	t.Helper()
	nc, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := NewConn(nc)
	pkt, err := c.ReadPacket()
	if err != nil {
		t.Fatal(err)
	}
	_, scramble, _, err := parseServerHandshake(pkt)
	if err != nil {
		t.Fatal(err)
	}
	resp := appendClientCapsHeader(nil, DefaultClientCaps, CharsetUTF8MB4GeneralCI)
	resp = append(append(resp, user...), 0)
	resp = appendLenEncBytes(resp, ScrambleNativePassword(scramble, pw))
	resp = append(resp, "\x00"+AuthNativePassword+"\x00"...)
	resp = appendLenEncBytes(resp, nil)
	writeFlush(c, resp)
	if pkt, err := c.ReadPacket(); err != nil || !IsOK(pkt) {
		t.Fatalf("login: %q %v", pkt, err)
	}
	return c, scramble
}

func changeUserPacket(user, db, plugin string, auth []byte) []byte {
	p := append([]byte{ComChangeUser}, user...)
	p = append(append(p, 0, byte(len(auth))), auth...)
	p = append(append(p, db...), 0)
	p = append(p, CharsetUTF8MB4GeneralCI, 0)
	return append(append(p, plugin...), 0)
}

func TestChangeUser(t *testing.T) {
	s := newTestServer(t, &HandshakeConfig{})
	c, scramble := rawLogin(t, s, "app", "secret")

	c.ResetSeq()
	writeFlush(c, changeUserPacket("other", "db2", AuthNativePassword, ScrambleNativePassword(scramble, "pw2")))
	if pkt, err := c.ReadPacket(); err != nil || !IsOK(pkt) || c.Seq() != 2 {
		t.Fatalf("change user: %q %v seq %d", pkt, err, c.Seq())
	}
	if rows, _ := query(t, c, DefaultClientCaps, "select 1"); len(rows) != 1 {
		t.Fatalf("query after change user: %v", rows)
	}

	c.ResetSeq()
	writeFlush(c, changeUserPacket("app", "", AuthNativePassword, ScrambleNativePassword(scramble, "bad")))
	pkt, err := c.ReadPacket()
	if err != nil {
		t.Fatal(err)
	}
	if code, state, msg := ParseErr(pkt); code != ErrAccessDenied || state != "28000" ||
		msg != "Access denied for user 'app'@'127.0.0.1' (using password: YES)" {
		t.Fatalf("wrong password: %d %s %s", code, state, msg)
	}
	s.waitCounts(t, 1, 0)
}

func TestChangeUserAuthSwitch(t *testing.T) {
	// The server wants caching_sha2_password; the client re-authenticates
	// with a native scramble and is switched, reusing the scramble.
	s := newTestServer(t, &HandshakeConfig{DefaultAuth: AuthCachingSHA2})
	nc, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := NewConn(nc)
	pkt, _ := c.ReadPacket()
	_, scramble, plugin, err := parseServerHandshake(pkt)
	if err != nil || plugin != AuthCachingSHA2 {
		t.Fatalf("plugin %q, %v", plugin, err)
	}
	resp := appendClientCapsHeader(nil, DefaultClientCaps, CharsetUTF8MB4GeneralCI)
	resp = append(resp, "app\x00"...)
	resp = appendLenEncBytes(resp, ScrambleCachingSHA2(scramble, "secret"))
	resp = append(resp, "\x00"+AuthCachingSHA2+"\x00"...)
	resp = appendLenEncBytes(resp, nil)
	writeFlush(c, resp)
	if pkt, _ = c.ReadPacket(); !bytes.Equal(pkt, []byte{1, cachingSHA2FastOK}) {
		t.Fatalf("want fast auth, got %q", pkt)
	}
	if pkt, _ = c.ReadPacket(); !IsOK(pkt) {
		t.Fatalf("login: %q", pkt)
	}
	c.ResetSeq()
	writeFlush(c, changeUserPacket("other", "", AuthNativePassword, ScrambleNativePassword(scramble, "pw2")))
	pkt, _ = c.ReadPacket()
	if len(pkt) < 2 || pkt[0] != HeaderEOF || !bytes.HasPrefix(pkt[1:], []byte(AuthCachingSHA2+"\x00")) {
		t.Fatalf("want auth switch, got %q", pkt)
	}
	writeFlush(c, ScrambleCachingSHA2(scramble, "pw2"))
	if pkt, _ = c.ReadPacket(); !bytes.Equal(pkt, []byte{1, cachingSHA2FastOK}) {
		t.Fatalf("want fast auth, got %q", pkt)
	}
	if pkt, _ = c.ReadPacket(); !IsOK(pkt) {
		t.Fatalf("change user: %q", pkt)
	}
}
