package wire

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"errors"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// testServer runs Accept on every connection and then answers commands
// itself: COM_QUERY "select X" returns one row with X (or, for
// "select big N", a value of N bytes), other queries return OK.
type testServer struct {
	ln    net.Listener
	cfg   *HandshakeConfig
	mu    sync.Mutex
	hello []*ClientHello
	errs  []error
	conns map[net.Conn]bool
}

var testUsers = map[string]string{"app": "secret", "empty": "", "other": "pw2"}

func newTestServer(t *testing.T, cfg *HandshakeConfig) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Lookup == nil {
		cfg.Lookup = func(u string) (string, bool) { pw, ok := testUsers[u]; return pw, ok }
	}
	s := &testServer{ln: ln, cfg: cfg, conns: make(map[net.Conn]bool)}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for nc := range s.conns {
			nc.Close()
		}
		s.mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for id := uint32(1); ; id++ {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[nc] = true
			s.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				s.serve(nc, id)
			}()
		}
	}()
	return s
}

func (s *testServer) addr() string { return s.ln.Addr().String() }

func (s *testServer) port() string {
	_, p, _ := net.SplitHostPort(s.addr())
	return p
}

func (s *testServer) hellos() ([]*ClientHello, []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*ClientHello(nil), s.hello...), append([]error(nil), s.errs...)
}

// waitCounts waits until the server recorded logins successful and fails
// failed handshakes: a client sees the ERR before the server records it.
func (s *testServer) waitCounts(t *testing.T, logins, fails int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		hellos, errs := s.hellos()
		if len(hellos) == logins && len(errs) == fails {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server recorded %d logins and %d failures (%v), want %d and %d", len(hellos), len(errs), errs, logins, fails)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *testServer) serve(nc net.Conn, id uint32) {
	c := NewConn(nc)
	c.MaxPacket = 64 << 20
	cfg := *s.cfg
	cfg.ConnID = id
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	hello, err := Accept(c, &cfg)
	s.mu.Lock()
	if err != nil {
		s.errs = append(s.errs, err)
	} else {
		s.hello = append(s.hello, hello)
	}
	s.mu.Unlock()
	if err != nil {
		return
	}
	caps := hello.Caps
	for {
		c.ResetSeq()
		pkt, err := c.ReadPacket()
		if err != nil || len(pkt) == 0 {
			return
		}
		switch pkt[0] {
		case ComQuit:
			return
		case ComChangeUser:
			if _, err := ChangeUser(c, pkt, &cfg); err != nil {
				return
			}
			continue
		case ComQuery:
			q := strings.TrimSpace(string(pkt[1:]))
			if v, found := strings.CutPrefix(strings.ToLower(q), "select "); found {
				val := []byte(q[len("select "):])
				if n, found := strings.CutPrefix(v, "big "); found {
					size, _ := strconv.Atoi(n)
					val = bytes.Repeat([]byte("x"), size)
				}
				err = WriteTextResult(c, caps, []string{"v"}, [][][]byte{{val}}, StatusAutocommit)
				break
			}
			err = c.WritePacket(AppendOK(nil, caps, 0, 0, StatusAutocommit, 0, ""))
		default:
			err = c.WritePacket(AppendOK(nil, caps, 0, 0, StatusAutocommit, 0, ""))
		}
		if err != nil || c.Flush() != nil {
			return
		}
	}
}

// selfSigned returns a server TLS config with a fresh certificate for
// 127.0.0.1 and a client config trusting it.
func selfSigned(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "switchyard test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

var tlsConfigSeq sync.Mutex

// registerTLS registers a client TLS config with go-sql-driver under a
// unique name.
func registerTLS(t *testing.T, cfg *tls.Config) string {
	tlsConfigSeq.Lock()
	defer tlsConfigSeq.Unlock()
	name := "wiretest-" + strings.ReplaceAll(t.Name(), "/", "-")
	if err := mysql.RegisterTLSConfig(name, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mysql.DeregisterTLSConfig(name) })
	return name
}

// querySelect opens dsn, runs "select <v>" and returns the value.
func querySelect(t *testing.T, dsn, v string) (string, error) {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxIdleConns(0)
	var got string
	err = db.QueryRowContext(context.Background(), "select "+v).Scan(&got)
	return got, err
}

func dsn(s *testServer, user, pw, params string) string {
	return user + ":" + pw + "@tcp(" + s.addr() + ")/?timeout=5s&" + params
}

func (s *testServer) dsnDB(user, pw, db string) string {
	return user + ":" + pw + "@tcp(" + s.addr() + ")/" + db + "?timeout=5s"
}

func TestAcceptGoDriverNativePassword(t *testing.T) {
	s := newTestServer(t, &HandshakeConfig{ServerVersion: "10.11.19-MariaDB-switchyard"})
	for _, tc := range []struct{ user, pw, params string }{
		{"app", "secret", ""},
		{"app", "secret", "interpolateParams=true"},
		{"empty", "", ""},
	} {
		got, err := querySelect(t, dsn(s, tc.user, tc.pw, tc.params), "42")
		if err != nil || got != "42" {
			t.Errorf("%s %q: %q, %v", tc.user, tc.params, got, err)
		}
	}
	hellos, _ := s.hellos()
	if len(hellos) != 3 || hellos[0].User != "app" || hellos[0].AuthPlugin != AuthNativePassword || hellos[0].TLS || hellos[0].Compress {
		t.Fatalf("hellos %+v", hellos)
	}
	if hellos[0].Caps&ClientProtocol41 == 0 || hellos[0].Attrs["_client_name"] != "Go-MySQL-Driver" {
		t.Errorf("caps %x attrs %v", hellos[0].Caps, hellos[0].Attrs)
	}
}

func TestAcceptWrongPasswordExactError(t *testing.T) {
	s := newTestServer(t, &HandshakeConfig{})
	for _, tc := range []struct{ user, pw, want string }{
		{"app", "wrong", "Access denied for user 'app'@'127.0.0.1' (using password: YES)"},
		{"app", "", "Access denied for user 'app'@'127.0.0.1' (using password: NO)"},
		{"nosuch", "secret", "Access denied for user 'nosuch'@'127.0.0.1' (using password: YES)"},
		{"empty", "x", "Access denied for user 'empty'@'127.0.0.1' (using password: YES)"},
	} {
		_, err := querySelect(t, dsn(s, tc.user, tc.pw, ""), "1")
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1045 || string(me.SQLState[:]) != "28000" || me.Message != tc.want {
			t.Errorf("%s/%s: err = %v, want 1045 (28000) %s", tc.user, tc.pw, err, tc.want)
		}
	}
	s.waitCounts(t, 0, 4)
}

func TestAcceptGoDriverTLSAndCompression(t *testing.T) {
	t.Parallel() // waits on mariadbd or the network more than on CPU
	serverTLS, clientTLS := selfSigned(t)
	s := newTestServer(t, &HandshakeConfig{TLS: serverTLS})
	name := registerTLS(t, clientTLS)
	for _, params := range []string{"tls=" + name, "compress=true", "tls=" + name + "&compress=true"} {
		if got, err := querySelect(t, dsn(s, "app", "secret", params), "'hello'"); err != nil || got != "'hello'" {
			t.Errorf("%s: %q, %v", params, got, err)
		}
	}
	// A value larger than 16 MiB crosses several compressed packets and
	// two MySQL packets.
	got, err := querySelect(t, dsn(s, "app", "secret", "compress=true&maxAllowedPacket=67108864"), "big 17000000")
	if err != nil || len(got) != 17000000 || strings.Trim(got, "x") != "" {
		t.Errorf("big compressed row: %d bytes, %v", len(got), err)
	}
	hellos, _ := s.hellos()
	if len(hellos) != 4 || !hellos[0].TLS || hellos[0].Compress || hellos[1].TLS || !hellos[1].Compress || !hellos[2].TLS || !hellos[2].Compress {
		t.Errorf("hellos TLS/compress flags wrong: %+v %+v %+v", hellos[0], hellos[1], hellos[2])
	}
}

func TestAcceptRequireTLS(t *testing.T) {
	serverTLS, clientTLS := selfSigned(t)
	s := newTestServer(t, &HandshakeConfig{TLS: serverTLS, RequireTLS: true})
	_, err := querySelect(t, dsn(s, "app", "secret", ""), "1")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != ErrSecureTransportRequired {
		t.Errorf("plain connection: err = %v, want %d", err, ErrSecureTransportRequired)
	}
	if _, err := querySelect(t, dsn(s, "app", "secret", "tls="+registerTLS(t, clientTLS)), "1"); err != nil {
		t.Errorf("TLS connection: %v", err)
	}
}

func TestAcceptAuthorize(t *testing.T) {
	var seen []string
	var mu sync.Mutex
	s := newTestServer(t, &HandshakeConfig{Authorize: func(h *ClientHello) error {
		mu.Lock()
		seen = append(seen, h.User+"/"+h.DB)
		mu.Unlock()
		if h.DB == "nosuch" {
			return &Error{Code: 1049, State: "42000", Message: "Unknown database 'nosuch'"}
		}
		return nil
	}})
	if got, err := querySelect(t, s.dsnDB("app", "secret", "shop"), "1"); err != nil || got != "1" {
		t.Errorf("known database: %q, %v", got, err)
	}
	_, err := querySelect(t, s.dsnDB("app", "secret", "nosuch"), "1")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1049 || string(me.SQLState[:]) != "42000" || me.Message != "Unknown database 'nosuch'" {
		t.Errorf("unknown database: err = %v, want 1049 (42000) before the OK", err)
	}
	// Wrong credentials are refused before Authorize sees the login.
	querySelect(t, s.dsnDB("app", "wrong", "shop"), "1")
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(seen, " ") != "app/shop app/nosuch" {
		t.Errorf("Authorize saw %q", seen)
	}
}

func TestAcceptCachingSHA2(t *testing.T) {
	serverTLS, clientTLS := selfSigned(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cache := NewSHA2Cache()
	s := newTestServer(t, &HandshakeConfig{TLS: serverTLS, DefaultAuth: AuthCachingSHA2, CachingSHA2Cache: cache, RSAKey: key})
	tlsName := registerTLS(t, clientTLS)

	// Full authentication over TLS, then the fast path without TLS.
	if _, err := querySelect(t, dsn(s, "app", "secret", "tls="+tlsName), "1"); err != nil {
		t.Fatalf("full auth over TLS: %v", err)
	}
	if !cache.has("app", "secret") {
		t.Fatal("full authentication did not fill the cache")
	}
	if _, err := querySelect(t, dsn(s, "app", "secret", ""), "1"); err != nil {
		t.Fatalf("fast auth: %v", err)
	}
	// Full authentication without TLS through the RSA public key.
	cache.Invalidate("app")
	if _, err := querySelect(t, dsn(s, "app", "secret", "allowPublicKeyRetrieval=true"), "1"); err != nil {
		t.Fatalf("full auth via RSA: %v", err)
	}
	if !cache.has("app", "secret") {
		t.Fatal("RSA full authentication did not fill the cache")
	}
	// Wrong password on both paths; a native-password client is switched.
	cache.Invalidate("app")
	for _, params := range []string{"tls=" + tlsName, "", "allowNativePasswords=true"} {
		_, err := querySelect(t, dsn(s, "app", "bad", params), "1")
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1045 {
			t.Errorf("%q wrong password: %v", params, err)
		}
	}
	if got, err := querySelect(t, dsn(s, "empty", "", ""), "1"); err != nil || got != "1" {
		t.Errorf("empty password: %v", err)
	}
	hellos, _ := s.hellos()
	for _, h := range hellos {
		if h.AuthPlugin != AuthCachingSHA2 {
			t.Errorf("plugin %s", h.AuthPlugin)
		}
	}
}

func TestAcceptAuthSwitchToNative(t *testing.T) {
	// The server wants mysql_native_password but the client opens with
	// caching_sha2_password (a MySQL 8 default): it must be switched.
	s := newTestServer(t, &HandshakeConfig{})
	c, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn := NewConn(c)
	pkt, _ := conn.ReadPacket()
	_, scramble, _, err := parseServerHandshake(pkt)
	if err != nil {
		t.Fatal(err)
	}
	caps := DefaultClientCaps
	resp := appendClientCapsHeader(nil, caps, CharsetUTF8MB4GeneralCI)
	resp = append(resp, "app\x00"...)
	resp = appendLenEncBytes(resp, ScrambleCachingSHA2(scramble, "secret"))
	resp = append(resp, "\x00"+AuthCachingSHA2+"\x00"...) // no database
	resp = appendLenEncBytes(resp, nil)
	writeFlush(conn, resp)
	pkt, _ = conn.ReadPacket()
	if len(pkt) == 0 || pkt[0] != HeaderEOF || !bytes.HasPrefix(pkt[1:], []byte(AuthNativePassword+"\x00")) {
		t.Fatalf("want auth switch to native, got %q", pkt)
	}
	writeFlush(conn, ScrambleNativePassword(scramble, "secret"))
	if pkt, _ = conn.ReadPacket(); !IsOK(pkt) {
		t.Fatalf("after auth switch: %q", pkt)
	}
}

func TestAcceptMalformedHandshakes(t *testing.T) {
	s := newTestServer(t, &HandshakeConfig{})
	garbage := [][]byte{
		{},                       // empty payload
		[]byte("GET / HTTP/1.1"), // short garbage
		bytes.Repeat([]byte{0xff}, 40),
		append(appendClientCapsHeader(nil, DefaultClientCaps, 45), "app"...),             // user without NUL
		append(appendClientCapsHeader(nil, DefaultClientCaps, 45), "app\x00\xfc\xff"...), // auth length beyond the packet
		append(appendClientCapsHeader(nil, ClientProtocol41|ClientSecureConnection, 45), "app\x00\x14abc"...),
		append(appendClientCapsHeader(nil, ClientLongPassword, 45), "app\x00\x00"...), // pre-4.1 client
	}
	for i, g := range garbage {
		c, err := net.Dial("tcp", s.addr())
		if err != nil {
			t.Fatal(err)
		}
		conn := NewConn(c)
		if _, err := conn.ReadPacket(); err != nil {
			t.Fatal(err)
		}
		writeFlush(conn, g)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		pkt, err := conn.ReadPacket()
		if err == nil && !IsErr(pkt) {
			t.Errorf("garbage %d: server answered %q", i, pkt)
		}
		c.Close()
	}
	// An oversized response is refused from its header: the server does
	// not wait for 16 MiB of payload.
	c, err := net.Dial("tcp", s.addr())
	if err != nil {
		t.Fatal(err)
	}
	conn := NewConn(c)
	conn.ReadPacket()
	c.Write([]byte{0xff, 0xff, 0xff, 1})
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.ReadPacket(); err == nil {
		t.Error("server answered an oversized handshake response")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Error("server kept waiting for the payload of an oversized handshake response")
	}
	c.Close()
	// The server still works.
	if _, err := querySelect(t, dsn(s, "app", "secret", ""), "1"); err != nil {
		t.Fatal(err)
	}
	s.waitCounts(t, 1, len(garbage)+1)
}
