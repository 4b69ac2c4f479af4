package admin

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/topology"
)

// testConfig has one application user and one admin user; the admin port
// needs no database for these tests.
func testConfig() *config.Config {
	c := config.Default()
	c.Users = []config.User{{Name: "app", Password: "app"}}
	c.Admin.Users = []config.Credentials{{User: "admin", Password: "admin"}}
	c.Servers = []config.Server{{Name: "db1", Address: "127.0.0.1:1"}}
	return c
}

func testView() *topology.View {
	return topology.NewView([]topology.Server{{Name: "db1", Addr: "127.0.0.1:1", LagMs: -1}})
}

func TestLoginFailures(t *testing.T) {
	e := startAdmin(t, testConfig(), testView())
	for _, tc := range []struct{ user, pass string }{
		{"admin", "wrong"},
		{"admin", ""},
		{"app", "app"}, // application users never log in to the admin port
		{"nobody", "x"},
	} {
		me := mysqlErr(t, e.db(t, tc.user, tc.pass), "SHOW SERVERS")
		if me.Number != 1045 {
			t.Errorf("%s/%s: %v, want 1045", tc.user, tc.pass, me)
		}
	}
	if _, err := e.cli(t, "admin", "wrong", "SHOW SERVERS"); err == nil || !strings.Contains(err.Error(), "1045") {
		t.Errorf("mariadb CLI with a wrong password: %v", err)
	}
}

func TestFailedLoginsAreRateLimited(t *testing.T) {
	e := startAdmin(t, testConfig(), testView())
	var mu sync.Mutex
	now := time.Now()
	e.a.limiter.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }

	for i := range 5 {
		if me := mysqlErr(t, e.db(t, "admin", "guess"), "SELECT 1"); me.Number != 1045 {
			t.Fatalf("attempt %d: %v", i, me)
		}
	}
	// The client sees the ERR packet just before the server counts the
	// failure: wait for the count, then the host is blocked even with the
	// right password.
	eventually(t, 5*time.Second, "the fifth failure to be counted", func() bool {
		_, blocked := e.a.limiter.blocked("127.0.0.1")
		return blocked
	})
	if me := mysqlErr(t, e.db(t, "admin", "admin"), "SELECT 1"); me.Number != 1129 {
		t.Fatalf("after 5 failures: %v, want 1129 host blocked", me)
	}
	mu.Lock()
	now = now.Add(31 * time.Second)
	mu.Unlock()
	if _, err := e.db(t, "admin", "admin").Exec("SELECT 1"); err != nil {
		t.Fatalf("after the block expired: %v", err)
	}
}

func TestLimiterWindow(t *testing.T) {
	l := newLimiter()
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for range 4 {
		l.fail("10.0.0.1")
	}
	now = now.Add(11 * time.Second) // the first four fall out of the window
	if n, blocked := l.fail("10.0.0.1"); n != 1 || blocked {
		t.Fatalf("failures %d blocked %v", n, blocked)
	}
	if _, blocked := l.blocked("10.0.0.2"); blocked {
		t.Fatal("another host is blocked")
	}
	for range 4 {
		l.fail("10.0.0.1")
	}
	if _, blocked := l.blocked("10.0.0.1"); !blocked {
		t.Fatal("5 failures within 10s did not block")
	}
}

// TestGarbageInput sends junk at every stage of the protocol; each bad
// connection is closed or answered with an error and the port keeps serving.
func TestGarbageInput(t *testing.T) {
	cfg := testConfig()
	cfg.Limits.HandshakeTimeout = config.Duration(500 * time.Millisecond)
	e := startAdmin(t, cfg, testView())
	good := e.db(t, "admin", "admin")
	good.SetMaxOpenConns(1)
	if _, err := good.Exec("SELECT 1"); err != nil {
		t.Fatal(err)
	}

	random := make([]byte, 4096)
	rand.Read(random)
	for name, payload := range map[string][]byte{
		"random bytes":          random,
		"http request":          []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"short packet":          {1, 0, 0, 1, 0x85},
		"header only":           {0xff, 0xff, 0xff, 1},
		"truncated handshake":   packet(1, []byte{0x85, 0xa6, 0x0f, 0x00, 0, 0, 0, 1, 33}),
		"handshake no user end": packet(1, append([]byte{0x85, 0xa6, 0x0f, 0x00, 0, 0, 0, 1, 33}, append(make([]byte, 23), "admin"...)...)),
	} {
		c, err := net.DialTimeout("tcp", e.addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.ReadFull(bufio.NewReader(c), make([]byte, 4)); err != nil { // greeting header
			t.Fatalf("%s: no greeting: %v", name, err)
		}
		c.Write(payload)
		// The server answers with an error and/or closes, at the latest
		// when the handshake timeout expires; it never waits for more.
		_, err = io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: the server kept the connection open past the handshake timeout", name)
		}
		c.Close()
		if _, err := good.Exec("SELECT 1"); err != nil {
			t.Fatalf("after %s: the admin port stopped serving: %v", name, err)
		}
	}

	// Malformed commands after a successful login.
	raw := loginRaw(t, e.addr)
	for _, cmd := range [][]byte{
		{0x04, 't', 'b', 'l'}, // COM_FIELD_LIST without the NUL terminator
		{0x17, 1},             // COM_STMT_EXECUTE of nothing
		{0x1c},                // COM_STMT_FETCH
		{0xee, 1, 2, 3},       // no such command
		{0x03},                // empty COM_QUERY
	} {
		raw.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := raw.Write(packet(0, cmd)); err != nil {
			break // closed after an earlier bad command: also acceptable
		}
		hdr := make([]byte, 4)
		if _, err := io.ReadFull(raw, hdr); err != nil {
			break
		}
		body := make([]byte, int(hdr[0])|int(hdr[1])<<8|int(hdr[2])<<16)
		io.ReadFull(raw, body)
		if len(body) == 0 || body[0] != 0xff {
			t.Errorf("command % x: answer % x, want an ERR packet", cmd, body)
		}
	}
	raw.Close()
	if _, err := good.Exec("SELECT 1"); err != nil {
		t.Fatalf("after malformed commands: %v", err)
	}
}

func packet(seq byte, payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}

// loginRaw logs in with go-mysql's client and returns the raw connection,
// positioned at the command phase.
func loginRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := client.ConnectWithTimeout(addr, "admin", "admin", "", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c.Conn.Conn
}

// TestTLS offers the proxy's certificate; plain clients connect unless
// tls.client.required.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "switchyard-admin-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.TLS.Client.Enabled = true
	cfg.TLS.Client.Cert = filepath.Join(dir, "cert.pem")
	cfg.TLS.Client.Key = filepath.Join(dir, "key.pem")
	os.WriteFile(cfg.TLS.Client.Cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(cfg.TLS.Client.Key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	e := startAdmin(t, cfg, testView())

	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr = "admin", "admin", "tcp", e.addr
	c.TLS = &tls.Config{InsecureSkipVerify: true} // go-sql-driver fails when the server offers no TLS
	connector, err := mysql.NewConnector(c)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	if _, err := db.Exec("SHOW SERVERS"); err != nil {
		t.Fatalf("TLS connection: %v", err)
	}
	if _, err := e.db(t, "admin", "admin").Exec("SHOW SERVERS"); err != nil {
		t.Fatalf("plain connection to a TLS-capable port: %v", err)
	}

	// tls.client.required: plain logins are refused before the OK, TLS
	// logins still work.
	required := *cfg
	required.TLS.Client.Required = true
	e.setConfig(&required)
	plain := e.db(t, "admin", "admin")
	var me *mysql.MySQLError
	if _, err := plain.Exec("SHOW SERVERS"); !errors.As(err, &me) || me.Number != 3159 {
		t.Fatalf("plain connection with TLS required: %v, want error 3159", err)
	}
	db.SetMaxIdleConns(0) // a new login
	if _, err := db.Exec("SHOW SERVERS"); err != nil {
		t.Fatalf("TLS connection with TLS required: %v", err)
	}
}
