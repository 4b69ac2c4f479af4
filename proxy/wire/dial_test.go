package wire

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/sandbox/sandboxtest"
)

// query sends a COM_QUERY and returns the rows of its (single) text result
// set, or the OK packet for statements without one.
func query(t *testing.T, c *Conn, caps uint32, q string) (rows [][]string, ok OK) {
	t.Helper()
	c.ResetSeq()
	if err := c.WritePacket(append([]byte{ComQuery}, q...)); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	pkt, err := c.ReadPacket()
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if IsErr(pkt) {
		t.Fatalf("%s: %v", q, errFromPacket(pkt))
	}
	if IsOK(pkt) {
		ok, err := ParseOK(pkt, caps)
		if err != nil {
			t.Fatal(err)
		}
		return nil, ok
	}
	ncol, _, _ := ReadLenEncInt(pkt)
	for range ncol {
		if _, err := c.ReadPacket(); err != nil {
			t.Fatal(err)
		}
	}
	if caps&ClientDeprecateEOF == 0 {
		if pkt, err := c.ReadPacket(); err != nil || !IsEOFPacket(pkt) {
			t.Fatalf("want EOF after columns: %q %v", pkt, err)
		}
	}
	for {
		pkt, err := c.ReadPacket()
		if err != nil {
			t.Fatal(err)
		}
		if IsResultSetEnd(pkt) {
			if caps&ClientDeprecateEOF != 0 {
				ok, _ = ParseOK(pkt, caps)
			}
			return rows, ok
		}
		var row []string
		for p := pkt; len(p) > 0; {
			v, n, _ := ReadLenEncString(p)
			if n == 0 {
				t.Fatalf("bad row %q", pkt)
			}
			row, p = append(row, string(v)), p[n:]
		}
		rows = append(rows, row)
	}
}

func TestDialMariaDB(t *testing.T) {
	t.Parallel() // waits on mariadbd or the network more than on CPU
	sb := sandboxtest.New(t, sandboxtest.Replicas(0))
	addr := sb.Nodes[0].Addr
	ctx := context.Background()

	t.Run("plain", func(t *testing.T) {
		c, h, err := Dial(ctx, &DialConfig{Addr: addr, User: "app", Password: "app", DB: "mysql", Attrs: map[string]string{"program_name": "wire-test"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if h.Flavor != "mariadb" || !strings.Contains(h.Version, "10.11") || h.ConnID == 0 || h.Status&StatusAutocommit == 0 {
			t.Errorf("hello %+v", h)
		}
		if h.Caps&ClientDeprecateEOF == 0 || h.Caps&ClientSessionTrack == 0 || h.Caps&ClientLongPassword != 0 {
			t.Errorf("negotiated caps %x", h.Caps)
		}
		if h.MariaDBCaps&MariaDBClientStmtBulkOperations == 0 {
			t.Errorf("MariaDB extended caps %x", h.MariaDBCaps)
		}
		rows, _ := query(t, c, h.Caps, "SELECT DATABASE(), CURRENT_USER(), CONNECTION_ID()")
		if len(rows) != 1 || rows[0][0] != "mysql" || !strings.HasPrefix(rows[0][1], "app@") {
			t.Errorf("rows %v", rows)
		}
		if c.Buffered() != 0 {
			t.Errorf("leftover bytes after result: %d", c.Buffered())
		}
	})

	t.Run("session tracking carries the GTID", func(t *testing.T) {
		c, h, err := Dial(ctx, &DialConfig{Addr: addr, User: "app", Password: "app"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		query(t, c, h.Caps, "SET session_track_system_variables = CONCAT(@@session_track_system_variables, ',last_gtid')")
		query(t, c, h.Caps, "CREATE DATABASE IF NOT EXISTS wiretest")
		_, ok := query(t, c, h.Caps, "CREATE TABLE wiretest.t (id INT AUTO_INCREMENT PRIMARY KEY, v LONGBLOB)")
		g, found := SessionTrackGTID(ok.SessionState)
		rows, _ := query(t, c, h.Caps, "SELECT @@gtid_binlog_pos")
		if !found || string(g) != rows[0][0] {
			t.Errorf("tracked GTID %q (%v), server says %q", g, found, rows[0][0])
		}
	})

	t.Run("compression with 16 MiB and larger packets", func(t *testing.T) {
		c, h, err := Dial(ctx, &DialConfig{Addr: addr, User: "app", Password: "app", Caps: DefaultClientCaps | ClientCompress})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if h.Caps&ClientCompress == 0 || !c.Compressed() {
			t.Fatal("compression not negotiated")
		}
		// max_allowed_packet is read-only in a session: set it globally
		// and reconnect.
		query(t, c, h.Caps, "SET GLOBAL max_allowed_packet = 64*1024*1024")
		c.Close()
		c, h, err = Dial(ctx, &DialConfig{Addr: addr, User: "app", Password: "app", Caps: DefaultClientCaps | ClientCompress})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// A statement of exactly MaxPayload bytes, sent compressed.
		prefix := "INSERT INTO wiretest.t (v) VALUES ('"
		blob := bytes.Repeat([]byte("ab"), (MaxPayload-1-len(prefix)-2)/2)
		stmt := append(append([]byte(prefix), blob...), "')"...)
		stmt = append(stmt, bytes.Repeat([]byte(" "), MaxPayload-1-len(stmt))...)
		c.ResetSeq()
		if err := c.WritePacket(append([]byte{ComQuery}, stmt...)); err != nil {
			t.Fatal(err)
		}
		c.Flush()
		pkt, err := c.ReadPacket()
		if err != nil || !IsOK(pkt) {
			t.Fatalf("insert of %d bytes: %q %v", len(stmt)+1, pkt[:min(len(pkt), 80)], err)
		}
		ok, _ := ParseOK(pkt, h.Caps)
		// Check it and read a 17 MB row: two MySQL packets spread over
		// many compressed packets.
		rows, _ := query(t, c, h.Caps, "SELECT v = REPEAT('ab', "+strconv.Itoa(len(blob)/2)+"), REPEAT('z', 17000000) FROM wiretest.t WHERE id = "+strconv.FormatUint(ok.LastInsertID, 10))
		if len(rows) != 1 || rows[0][0] != "1" || rows[0][1] != strings.Repeat("z", 17000000) {
			t.Errorf("read back %d rows", len(rows))
		}
		rows, _ = query(t, c, h.Caps, "SELECT 1")
		if len(rows) != 1 || rows[0][0] != "1" {
			t.Errorf("after big packets: %v", rows)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		_, _, err := Dial(ctx, &DialConfig{Addr: addr, User: "app", Password: "nope"})
		var we *Error
		if !errors.As(err, &we) || we.Code != ErrAccessDenied || we.State != "28000" || !strings.Contains(we.Message, "Access denied for user 'app'") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("unknown database", func(t *testing.T) {
		_, _, err := Dial(ctx, &DialConfig{Addr: addr, User: "app", Password: "app", DB: "nosuchdb"})
		var we *Error
		if !errors.As(err, &we) || we.Code != ErrBadDB {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("client_ed25519", func(t *testing.T) {
		c, h, err := Dial(ctx, &DialConfig{Addr: addr, User: "app", Password: "app"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		query(t, c, h.Caps, "INSTALL SONAME 'auth_ed25519'")
		query(t, c, h.Caps, "CREATE USER ed@'%' IDENTIFIED VIA ed25519 USING PASSWORD('edpw')")
		ec, eh, err := Dial(ctx, &DialConfig{Addr: addr, User: "ed", Password: "edpw"})
		if err != nil {
			t.Fatal(err)
		}
		ec.Close()
		if eh.AuthPlugin != AuthEd25519 {
			t.Errorf("plugin %s", eh.AuthPlugin)
		}
		if _, _, err := Dial(ctx, &DialConfig{Addr: addr, User: "ed", Password: "wrong"}); err == nil {
			t.Error("wrong ed25519 password accepted")
		}
	})
}

func TestDialBackendKilledMidResult(t *testing.T) {
	t.Parallel() // waits on mariadbd or the network more than on CPU
	sb := sandboxtest.New(t, sandboxtest.Replicas(0))
	c, _, err := Dial(context.Background(), &DialConfig{Addr: sb.Nodes[0].Addr, User: "app", Password: "app", DB: "mysql", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.ResetSeq()
	writeFlush(c, append([]byte{ComQuery}, "SELECT seq, REPEAT('x', 1000) FROM seq_1_to_10000000"...))
	c.NetConn().SetReadDeadline(time.Now().Add(30 * time.Second))
	for range 100 {
		if pkt, err := c.ReadPacket(); err != nil || IsErr(pkt) {
			t.Fatalf("before the kill: %q, %v", pkt, err)
		}
	}
	if err := sb.Kill(sb.Nodes[0].Name); err != nil {
		t.Fatal(err)
	}
	for {
		pkt, err := c.ReadPacket()
		if err == nil {
			if IsResultSetEnd(pkt) {
				t.Fatal("result set ended normally although the server was killed")
			}
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("read hung after the server died: %v", err)
		}
		break // connection reset or unexpected EOF: the caller sees a dead backend
	}
	if _, _, err := Dial(context.Background(), &DialConfig{Addr: sb.Nodes[0].Addr, User: "app", Password: "app", Timeout: time.Second}); err == nil {
		t.Fatal("dial to a killed server succeeded")
	}
}

func TestDialAgainstAccept(t *testing.T) {
	serverTLS, clientTLS := selfSigned(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cache := NewSHA2Cache()
	sha2 := newTestServer(t, &HandshakeConfig{TLS: serverTLS, DefaultAuth: AuthCachingSHA2, CachingSHA2Cache: cache, RSAKey: key})
	native := newTestServer(t, &HandshakeConfig{TLS: serverTLS})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		s    *testServer
		cfg  DialConfig
	}{
		{"native TLS compressed", native, DialConfig{TLS: clientTLS, Caps: DefaultClientCaps | ClientCompress}},
		{"caching_sha2 full via RSA", sha2, DialConfig{}},
		{"caching_sha2 fast", sha2, DialConfig{}},
		{"caching_sha2 full over TLS", sha2, DialConfig{TLS: clientTLS}},
	} {
		if tc.name == "caching_sha2 full over TLS" {
			cache.Invalidate("app")
		}
		cfg := tc.cfg
		cfg.Addr, cfg.User, cfg.Password = tc.s.addr(), "app", "secret"
		c, h, err := Dial(ctx, &cfg)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		rows, _ := query(t, c, h.Caps, "select 7")
		if len(rows) != 1 || rows[0][0] != "7" {
			t.Errorf("%s: rows %v", tc.name, rows)
		}
		if c.TLS() != (cfg.TLS != nil) || c.Compressed() != (cfg.Caps&ClientCompress != 0) {
			t.Errorf("%s: TLS %v compressed %v", tc.name, c.TLS(), c.Compressed())
		}
		c.Close()
	}
	hellos, _ := sha2.hellos()
	if len(hellos) != 3 || !cache.has("app", "secret") {
		t.Errorf("%d logins, cache filled %v", len(hellos), cache.has("app", "secret"))
	}
	// A client that opens with mysql_native_password is switched.
	c, h, err := Dial(ctx, &DialConfig{Addr: sha2.addr(), User: "other", Password: "pw2", TLS: clientTLS})
	if err != nil {
		t.Fatalf("auth switch: %v", err)
	}
	c.Close()
	if h.AuthPlugin != AuthCachingSHA2 {
		t.Errorf("plugin after switch: %s", h.AuthPlugin)
	}
}

func TestDialTimeout(t *testing.T) {
	// A server that accepts and never speaks.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	_, _, err = Dial(context.Background(), &DialConfig{Addr: ln.Addr().String(), User: "app", Timeout: 200 * time.Millisecond})
	if err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	if _, _, err = Dial(ctx, &DialConfig{Addr: ln.Addr().String(), User: "app"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled dial: err = %v", err)
	}
}
