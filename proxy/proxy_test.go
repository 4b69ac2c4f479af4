package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/proxy/wire"
	"github.com/switchyard/switchyard/routing"
	"github.com/switchyard/switchyard/sandbox"
	"github.com/switchyard/switchyard/sandbox/sandboxtest"
)

// rawConn is a protocol-level client of the proxy, for commands the Go
// driver does not send.
func rawConn(t testing.TB, addr string, caps uint32) *backend {
	t.Helper()
	c, hello, err := wire.Dial(context.Background(), &wire.DialConfig{Addr: addr, User: "app", Password: "app", Caps: caps, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("raw connect: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	b := &backend{c: c, caps: hello.Caps, threadID: hello.ConnID}
	b.stmts.init(16)
	return b
}

// TestProxy runs the data-path tests against one shared topology (a
// primary and a replica), each with its own proxy.
func TestProxy(t *testing.T) {
	sb := sandboxtest.New(t, sandboxtest.Replicas(1))
	for _, n := range sb.Nodes {
		db := sb.DB(t, n.Name)
		mustExec(t, db, "SET GLOBAL max_allowed_packet = 64*1024*1024")
		mustExec(t, db, "SET GLOBAL local_infile = 1")
	}
	prim := sb.DB(t, "db1")
	mustExec(t, prim, "CREATE DATABASE IF NOT EXISTS pt")
	mustExec(t, prim, "CREATE DATABASE IF NOT EXISTS pt2")
	mustExec(t, prim, "CREATE TABLE pt.kv (k INT PRIMARY KEY, v VARCHAR(64), b LONGBLOB)")
	mustExec(t, prim, "INSERT INTO pt.kv (k, v) VALUES (1, 'one'), (2, 'two'), (3, 'three')")
	mustExec(t, prim, "CREATE TABLE pt2.only2 (x INT)")
	mustExec(t, prim, "CREATE PROCEDURE pt.two_results() BEGIN SELECT 1 AS a; SELECT 2 AS b, 3 AS c; END")

	t.Run("Basics", func(t *testing.T) {
		e := newEnvOn(t, sb, nil)
		for _, params := range []string{"", "interpolateParams=true", "tls=skip-verify", "compress=true", "tls=skip-verify&compress=true"} {
			db := e.db(t, params)
			if got := queryString(t, db, "SELECT v FROM pt.kv WHERE k = ?", 2); got != "two" {
				t.Fatalf("%s: got %q", params, got)
			}
			res := mustExec(t, db, "UPDATE pt.kv SET v = v WHERE k IN (1, 2)")
			if n, _ := res.RowsAffected(); n != 0 {
				t.Fatalf("%s: affected %d, want 0 (found rows off)", params, n)
			}
		}
		// CLIENT_FOUND_ROWS is a pool key: the same UPDATE reports matched rows.
		db := e.db(t, "clientFoundRows=true")
		res := mustExec(t, db, "UPDATE pt.kv SET v = v WHERE k IN (1, 2)")
		if n, _ := res.RowsAffected(); n != 2 {
			t.Fatalf("clientFoundRows: affected %d, want 2", n)
		}
		var tlsVersion string
		c := e.conn(t, "tls=skip-verify")
		if err := c.QueryRowContext(context.Background(), "SELECT 1").Scan(&tlsVersion); err != nil {
			t.Fatal(err)
		}
		var sawTLS bool
		for _, ci := range e.srv.Clients() {
			sawTLS = sawTLS || ci.TLS
		}
		if !sawTLS {
			t.Fatal("no client reported TLS")
		}
		// Clients verify encryption with Ssl_cipher: the answer is about
		// their connection, which ends at the proxy.
		tlsStatus := func(c *sql.Conn, like string) string {
			var name, value string
			if err := c.QueryRowContext(context.Background(), "SHOW STATUS LIKE '"+like+"'").Scan(&name, &value); err != nil {
				t.Fatal(err)
			}
			return value
		}
		if v := tlsStatus(c, "Ssl_cipher"); !strings.HasPrefix(v, "TLS_") {
			t.Errorf("Ssl_cipher over TLS = %q", v)
		}
		if v := tlsStatus(c, "ssl_version"); v != "TLSv1.3" {
			t.Errorf("Ssl_version over TLS = %q", v)
		}
		if v := tlsStatus(e.conn(t, ""), "Ssl_cipher"); v != "" {
			t.Errorf("Ssl_cipher without TLS = %q, want empty", v)
		}
	})

	t.Run("InsertIDAndWarnings", func(t *testing.T) {
		e := newEnvOn(t, sb, nil)
		c := e.conn(t, "")
		mustExec(t, c, "CREATE TABLE IF NOT EXISTS pt.ai (id INT AUTO_INCREMENT PRIMARY KEY, x TINYINT)")
		res := mustExec(t, c, "INSERT INTO pt.ai (x) VALUES (1), (2)")
		id, _ := res.LastInsertId()
		if n, _ := res.RowsAffected(); n != 2 || id == 0 {
			t.Fatalf("affected %d id %d", n, id)
		}
		if got := queryString(t, c, "SELECT LAST_INSERT_ID()"); got != fmt.Sprint(id) {
			t.Fatalf("LAST_INSERT_ID() = %s, want %d", got, id)
		}
		mustExec(t, c, "SELECT CAST('x' AS INT)")
		if got := queryString(t, c, "SELECT @@warning_count"); got == "0" {
			t.Fatal("warning count lost")
		}
	})

	t.Run("OKPacketsWithoutSessionTrack", func(t *testing.T) {
		// A client without CLIENT_SESSION_TRACK gets the server's OK bytes.
		e := newEnvOn(t, sb, nil)
		caps := wire.DefaultClientCaps &^ wire.ClientSessionTrack
		ok := func(addr string) []byte {
			r := rawConn(t, addr, caps)
			if err := r.send(append([]byte{wire.ComQuery}, "UPDATE pt.kv SET v = v WHERE k IN (1, 2)"...)); err != nil {
				t.Fatal(err)
			}
			p, err := r.c.ReadPacket()
			if err != nil {
				t.Fatal(err)
			}
			return append([]byte(nil), p...)
		}
		direct, proxied := ok(sb.Nodes[0].Addr), ok(e.addr)
		if !bytes.Equal(direct, proxied) || !bytes.Contains(direct, []byte("Rows matched: 2")) {
			t.Fatalf("OK differs:\ndirect %q\nproxy  %q", direct, proxied)
		}
	})

	t.Run("MultiStatementsAndResults", func(t *testing.T) {
		e := newEnvOn(t, sb, nil)
		c := e.conn(t, "multiStatements=true")
		rows, err := c.QueryContext(context.Background(), "SELECT 1; SELECT 2, 3; CALL pt.two_results()")
		if err != nil {
			t.Fatal(err)
		}
		var sets [][]string
		for {
			var set []string
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]sql.RawBytes, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				var parts []string
				for _, v := range vals {
					parts = append(parts, string(v))
				}
				set = append(set, strings.Join(parts, ","))
			}
			sets = append(sets, set)
			if !rows.NextResultSet() {
				break
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		want := "[[1] [2,3] [1] [2,3]]"
		if fmt.Sprint(sets) != want {
			t.Fatalf("result sets %v, want %s", sets, want)
		}
		// A client without multi-statements gets the server's syntax error.
		plain := e.conn(t, "")
		if _, err := plain.ExecContext(context.Background(), "SELECT 1; SELECT 2"); mysqlErr(err) != 1064 {
			t.Fatalf("multi-statement without the capability: %v, want 1064", err)
		}
		if got := queryString(t, plain, "SELECT 5"); got != "5" {
			t.Fatal("connection unusable after error")
		}
	})

	t.Run("BackendErrorsUnchanged", func(t *testing.T) {
		e := newEnvOn(t, sb, nil)
		c := e.conn(t, "")
		_, err := c.ExecContext(context.Background(), "SELECT * FROM pt.nosuch")
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1146 || string(me.SQLState[:]) != "42S02" || !strings.Contains(me.Message, "pt.nosuch") {
			t.Fatalf("got %v", err)
		}
		_, err = c.ExecContext(context.Background(), "INSERT INTO pt.kv (k, v) VALUES (1, 'dup')")
		if mysqlErr(err) != 1062 {
			t.Fatalf("duplicate key: %v", err)
		}
	})

	t.Run("SessionStateReplay", func(t *testing.T) {
		// One backend connection per server, two sessions with different
		// state: every statement forces a replay onto the shared connection.
		e := newEnvOn(t, sb, func(c *config.Config) {
			c.Pool.MaxPerServer = 1
			c.Pool.MinIdle = 1
		})
		a := e.conn(t, "")
		b := e.conn(t, "")
		mustExec(t, a, "SET SESSION sql_mode = 'ANSI_QUOTES'")
		mustExec(t, a, "SET @who = 'alice', @n = 42")
		mustExec(t, a, "USE pt2")
		mustExec(t, a, "SET NAMES latin1")
		mustExec(t, a, "SET @@session.time_zone = '+05:00'")
		mustExec(t, b, "SET sql_mode = CONCAT(@@sql_mode, ',PIPES_AS_CONCAT')")
		mustExec(t, b, "SET @who = 'bob'")
		mustExec(t, b, "USE pt")
		for i := 0; i < 3; i++ {
			for _, c := range []struct {
				conn *sql.Conn
				q    string
				want string
			}{
				{a, "SELECT @@session.sql_mode", "ANSI_QUOTES"},
				{b, "SELECT @@session.sql_mode LIKE '%PIPES_AS_CONCAT%'", "1"},
				{a, "SELECT @who", "alice"},
				{b, "SELECT @who", "bob"},
				{a, "SELECT @n", "42"},
				{b, "SELECT @n IS NULL", "1"},
				{a, "SELECT DATABASE()", "pt2"},
				{b, "SELECT DATABASE()", "pt"},
				{a, "SELECT @@character_set_client", "latin1"},
				{b, "SELECT @@character_set_client", "utf8mb4"},
				{a, "SELECT @@time_zone", "+05:00"},
				{b, "SELECT @@time_zone", "SYSTEM"},
				{a, "SELECT COUNT(*) FROM only2", "0"},
			} {
				if got := queryString(t, c.conn, c.q); got != c.want {
					t.Fatalf("round %d: %s = %q, want %q", i, c.q, got, c.want)
				}
			}
		}
		// Unparseable SETs replay verbatim; removing them resets the connection.
		mustExec(t, a, "SET STATEMENT max_statement_time=100 FOR SELECT 1")
		if got := queryString(t, b, "SELECT @who"); got != "bob" {
			t.Fatalf("after verbatim: %q", got)
		}
		for _, p := range e.srv.Pools() {
			if p.Max != 1 || p.InUse+p.Idle > 1 {
				t.Fatalf("pool %+v exceeds 1 connection", p)
			}
		}
	})

	t.Run("FreshBackendReplay", func(t *testing.T) {
		e := newEnvOn(t, sb, nil)
		c := e.conn(t, "")
		mustExec(t, c, "SET @@session.autocommit = 1, @x = 'kept', SESSION wait_timeout = 1234")
		mustExec(t, c, "USE pt")
		// Throw every pooled backend away: the next statement gets a new one.
		e.srv.pools.mu.Lock()
		for _, p := range e.srv.pools.pools {
			p.mu.Lock()
			for _, b := range p.idle {
				b.close()
			}
			p.mu.Unlock()
		}
		e.srv.pools.mu.Unlock()
		if got := queryString(t, c, "SELECT CONCAT(@x, ':', @@wait_timeout, ':', DATABASE())"); got != "kept:1234:pt" {
			t.Fatalf("got %q", got)
		}
	})

	t.Run("TransactionPinning", func(t *testing.T) {
		e := newEnvOn(t, sb, func(c *config.Config) {
			c.Pool.MaxPerServer = 1
			c.Pool.WaitTimeout = config.Duration(300 * time.Millisecond)
		})
		a := e.conn(t, "")
		b := e.conn(t, "")
		mustExec(t, a, "BEGIN")
		mustExec(t, a, "UPDATE pt.kv SET v = 'tx' WHERE k = 3")
		// b cannot get the primary's only connection while a's transaction is open.
		_, err := b.ExecContext(context.Background(), "UPDATE pt.kv SET v = v WHERE k = 1")
		if mysqlErr(err) != 1040 || !strings.Contains(err.Error(), "exhausted") {
			t.Fatalf("want pool exhausted, got %v", err)
		}
		if got := queryString(t, a, "SELECT v FROM pt.kv WHERE k = 3"); got != "tx" {
			t.Fatalf("own uncommitted write not visible: %q", got)
		}
		mustExec(t, a, "ROLLBACK")
		mustExec(t, b, "UPDATE pt.kv SET v = v WHERE k = 1")
		if got := queryString(t, b, "SELECT v FROM pt.kv WHERE k = 3"); got != "three" {
			t.Fatalf("rolled back write visible: %q", got)
		}
		var timeouts int64
		for _, p := range e.srv.Pools() {
			timeouts += p.TimeoutsTotal
		}
		if timeouts == 0 {
			t.Fatal("pool timeout not counted")
		}
	})

	t.Run("TempTableAndLockPinning", func(t *testing.T) {
		e := newEnvOn(t, sb, nil)
		a := e.conn(t, "")
		others := e.db(t, "")
		mustExec(t, a, "CREATE TEMPORARY TABLE pt.tmp (x INT)")
		mustExec(t, a, "INSERT INTO pt.tmp VALUES (7)")
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ { // others churn through the pool meanwhile
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < 20; j++ {
					others.Exec("SELECT 1")
				}
			}()
		}
		for i := 0; i < 10; i++ {
			if got := queryString(t, a, "SELECT x FROM pt.tmp"); got != "7" {
				t.Fatalf("temp table lost: %q", got)
			}
		}
		wg.Wait()
		if got := queryString(t, a, "SELECT GET_LOCK('pt-lock', 1)"); got != "1" {
			t.Fatal("GET_LOCK failed")
		}
		if got := queryString(t, a, "SELECT IS_USED_LOCK('pt-lock') = CONNECTION_ID()"); got != "1" {
			t.Fatal("lock not held by the session's backend")
		}
		// HANDLER keeps an open table on its connection (a new session: a
		// is pinned already).
		hc := e.conn(t, "")
		mustExec(t, hc, "HANDLER pt.kv OPEN AS h")
		takeLastPooled(t, e) // the HANDLER's connection, unless hc pinned it
		for i := 0; i < 5; i++ {
			var k int
			var v, blob sql.NullString
			if err := hc.QueryRowContext(context.Background(), "HANDLER h READ `PRIMARY` FIRST").Scan(&k, &v, &blob); err != nil || k != 1 {
				t.Fatalf("HANDLER READ after OPEN: %d, %v", k, err)
			}
		}
		mustExec(t, hc, "HANDLER h CLOSE")
		// The session publishes its state when it waits for the next
		// command, which may be just after the client has the answer.
		pinned := false
		for deadline := time.Now().Add(5 * time.Second); !pinned && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			for _, ci := range e.srv.Clients() {
				pinned = pinned || ci.State == "pinned"
			}
		}
		if !pinned {
			t.Fatal("no session reported pinned")
		}
	})

	t.Run("GlobalReadLockPins", func(t *testing.T) {
		// FLUSH TABLES WITH READ LOCK stays with its connection: released to
		// the pool it would block every write on the primary until that
		// connection happened to run UNLOCK TABLES.
		e := newEnvOn(t, sb, nil)
		a := e.conn(t, "")
		mustExec(t, a, "FLUSH TABLES WITH READ LOCK")
		takeLastPooled(t, e) // the locked connection, unless a pinned it
		mustExec(t, a, "UNLOCK TABLES")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := e.db(t, "").ExecContext(ctx, "UPDATE pt.kv SET v = v WHERE k = 1"); err != nil {
			t.Fatalf("write after UNLOCK TABLES: %v (the read lock outlived it)", err)
		}
	})

	t.Run("PreparedStatements", func(t *testing.T) {
		e := newEnvOn(t, sb, func(c *config.Config) {
			c.Pool.MaxPreparedPerConn = 2
			c.Pool.MaxPerServer = 2
		})
		db := e.db(t, "")
		db.SetMaxOpenConns(3)
		stmts := make([]*sql.Stmt, 0, 4)
		for i, q := range []string{
			"SELECT v FROM pt.kv WHERE k = ?",
			"SELECT CONCAT(?, v) FROM pt.kv WHERE k = ?",
			"SELECT ? + 1",
			"SELECT COUNT(*) FROM pt.kv WHERE k >= ? AND v <> ?",
		} {
			st, err := db.Prepare(q)
			if err != nil {
				t.Fatalf("prepare %d: %v", i, err)
			}
			defer st.Close()
			stmts = append(stmts, st)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for g := 0; g < 3; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 30; i++ {
					var s string
					checks := []struct {
						st   *sql.Stmt
						args []any
						want string
					}{
						{stmts[0], []any{1}, "one"},
						{stmts[1], []any{"x-", 2}, "x-two"},
						{stmts[2], []any{int64(i)}, fmt.Sprint(i + 1)},
						{stmts[3], []any{2, "zzz"}, "2"},
						{stmts[2], []any{1.5}, "2.5"},
					}
					for _, c := range checks {
						if err := c.st.QueryRow(c.args...).Scan(&s); err != nil {
							errs <- err
							return
						}
						if s != c.want {
							errs <- fmt.Errorf("got %q want %q", s, c.want)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		// Unknown statement id.
		r := rawConn(t, e.addr, 0)
		if err := r.send([]byte{wire.ComStmtExecute, 99, 0, 0, 0, 0, 1, 0, 0, 0}); err != nil {
			t.Fatal(err)
		}
		var be *wire.Error
		if err := r.drain(); !errors.As(err, &be) || be.Code != wire.ErrUnknownStmt {
			t.Fatalf("unknown statement: %v", err)
		}
	})

	t.Run("Cursor", func(t *testing.T) {
		e := newEnvOn(t, sb, nil)
		r := rawConn(t, e.addr, 0)
		// Prepare, execute with a read-only cursor, fetch 2 rows at a time.
		if err := r.send(append([]byte{wire.ComStmtPrepare}, "SELECT seq FROM pt.seq_1_to_5"...)); err != nil {
			t.Fatal(err)
		}
		var rr responseReader
		rr.initPhase(r, phPrepare)
		var id uint32
		for rr.more() {
			pkt, kind, err := rr.next()
			if err != nil {
				t.Fatal(err)
			}
			if kind == pktPrepareOK {
				id = le32(pkt[5:9])
			}
		}
		if id != 1 {
			t.Fatalf("proxy statement id %d, want 1", id)
		}
		exe := []byte{wire.ComStmtExecute, 0, 0, 0, 0, 1, 1, 0, 0, 0}
		putLE32(exe[1:], id)
		if err := r.send(exe); err != nil {
			t.Fatal(err)
		}
		rr.initPhase(r, phFirst)
		for rr.more() {
			if _, _, err := rr.next(); err != nil {
				t.Fatal(err)
			}
		}
		if rr.status&wire.StatusCursorExists == 0 {
			t.Fatalf("no cursor: status %#x", rr.status)
		}
		rows := 0
		for i := 0; i < 3; i++ {
			fetch := []byte{wire.ComStmtFetch, 0, 0, 0, 0, 2, 0, 0, 0}
			putLE32(fetch[1:], id)
			if err := r.send(fetch); err != nil {
				t.Fatal(err)
			}
			rr.initPhase(r, phRows)
			for rr.more() {
				_, kind, err := rr.next()
				if err != nil {
					t.Fatal(err)
				}
				if kind == pktRow {
					rows++
				}
				if kind == pktErr {
					t.Fatal("fetch failed")
				}
			}
			if i == 0 {
				// The cursor is open on the replica: a write is refused
				// rather than run there, and the cursor stays usable.
				if err := r.send(append([]byte{wire.ComQuery}, "UPDATE pt.kv SET v = v WHERE k = 1"...)); err != nil {
					t.Fatal(err)
				}
				var we *wire.Error
				if err := r.drain(); !errors.As(err, &we) || we.Code != 1105 || !strings.Contains(we.Message, "open cursor on a replica") {
					t.Fatalf("write while a replica cursor is open: %v", err)
				}
			}
		}
		if rows != 5 || rr.status&wire.StatusLastRowSent == 0 {
			t.Fatalf("fetched %d rows, status %#x", rows, rr.status)
		}
	})

	t.Run("LocalCommands", func(t *testing.T) {
		e := newEnvOn(t, sb, nil)
		r := rawConn(t, e.addr, 0)
		for _, cmd := range [][]byte{{wire.ComPing}, append([]byte{wire.ComInitDB}, "pt2"...), {wire.ComResetConnection}, {wire.ComSetOption, 0, 0}} {
			if err := r.send(cmd); err != nil {
				t.Fatal(err)
			}
			rr := responseReader{}
			rr.initPhase(r, phSimple)
			_, kind, err := rr.next()
			if err != nil || kind == pktErr {
				t.Fatalf("command %#x: kind %d err %v", cmd[0], kind, err)
			}
		}
		if got, err := r.queryRow("SELECT DATABASE()"); err != nil || string(got) != "pt2" {
			t.Fatalf("COM_INIT_DB then reset: %q %v", got, err)
		}
		// COM_INIT_DB with a bad database: the server's error.
		if err := r.send(append([]byte{wire.ComInitDB}, "nosuchdb"...)); err != nil {
			t.Fatal(err)
		}
		var be *wire.Error
		if err := r.drain(); !errors.As(err, &be) || be.Code != wire.ErrBadDB {
			t.Fatalf("bad db: %v", err)
		}
		// COM_STATISTICS: a string reply from a backend.
		if err := r.send([]byte{wire.ComStatistics}); err != nil {
			t.Fatal(err)
		}
		pkt, err := r.c.ReadPacket()
		if err != nil || !bytes.HasPrefix(pkt, []byte("Uptime")) {
			t.Fatalf("statistics: %q %v", pkt, err)
		}
		// COM_FIELD_LIST.
		if err := r.send(append([]byte{wire.ComFieldList}, "kv\x00"...)); err == nil {
			// pt2 has no kv: the server's error; then in pt.
		}
		if err := r.drain(); !errors.As(err, &be) {
			t.Fatalf("field list on missing table: %v", err)
		}
		if _, err := r.queryRow("USE pt"); err != nil {
			t.Fatal(err)
		}
		if err := r.send(append([]byte{wire.ComFieldList}, "kv\x00"...)); err != nil {
			t.Fatal(err)
		}
		rr := responseReader{}
		rr.initPhase(r, phRows)
		defs := 0
		for rr.more() {
			_, kind, err := rr.next()
			if err != nil {
				t.Fatal(err)
			}
			if kind == pktRow {
				defs++
			}
		}
		if defs != 3 {
			t.Fatalf("field list: %d columns, want 3", defs)
		}
		// Unknown command.
		if err := r.send([]byte{0x55}); err != nil {
			t.Fatal(err)
		}
		if err := r.drain(); !errors.As(err, &be) || be.Code != wire.ErrUnknownCom {
			t.Fatalf("unknown command: %v", err)
		}
		if got, err := r.queryRow("SELECT 3"); err != nil || string(got) != "3" {
			t.Fatalf("after errors: %q %v", got, err)
		}
	})

	t.Run("Kill", func(t *testing.T) {
		e := newEnvOn(t, sb, nil)
		victim := e.conn(t, "")
		var id uint64
		if err := victim.QueryRowContext(context.Background(), "SELECT 1").Scan(&id); err != nil {
			t.Fatal(err)
		}
		clients := e.srv.Clients()
		id = clients[len(clients)-1].ID
		killer := e.conn(t, "")
		done := make(chan error, 1)
		go func() {
			_, err := victim.ExecContext(context.Background(), "SELECT SLEEP(20)")
			done <- err
		}()
		time.Sleep(300 * time.Millisecond)
		mustExec(t, killer, fmt.Sprintf("KILL QUERY %d", id))
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("interrupted query succeeded")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("KILL QUERY did not interrupt")
		}
		if _, err := killer.ExecContext(context.Background(), "KILL 999999"); mysqlErr(err) != 1094 {
			t.Fatalf("unknown id: %v", err)
		}
		mustExec(t, killer, fmt.Sprintf("KILL %d", id))
		if err := victim.PingContext(context.Background()); err == nil {
			t.Fatal("killed client still connected")
		}
	})

	t.Run("Streaming1MRows", func(t *testing.T) {
		e := newEnvOn(t, sb, nil)
		r := rawConn(t, e.addr, wire.DefaultClientCaps)
		// Warm up, then measure allocation across a million-row result.
		if _, err := r.queryRow("SELECT seq FROM pt.seq_1_to_1000"); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if err := r.send(append([]byte{wire.ComQuery}, "SELECT seq, 'some padding text' FROM pt.seq_1_to_1000000"...)); err != nil {
			t.Fatal(err)
		}
		var rr responseReader
		rr.init(r)
		rows := 0
		for rr.more() {
			_, kind, err := rr.next()
			if err != nil {
				t.Fatal(err)
			}
			if kind == pktRow {
				rows++
			}
		}
		runtime.ReadMemStats(&after)
		if rows != 1000000 {
			t.Fatalf("%d rows", rows)
		}
		// ~27 MB of rows went through; buffering them would allocate at least that.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
			t.Fatalf("allocated %d bytes for a streamed result", alloc)
		}
	})

	t.Run("Blob32MiB", func(t *testing.T) {
		// Echoed through the server (no table: disk speed is not the point):
		// 32 MiB crosses the 16 MiB packet boundary both ways as a binary
		// protocol parameter and result; a compressed client receives a
		// 17 MiB value.
		e := newEnvOn(t, sb, nil)
		blob := make([]byte, 32<<20+17)
		rand.Read(blob)
		c := e.conn(t, "maxAllowedPacket=0")
		var got []byte
		if err := c.QueryRowContext(context.Background(), "SELECT ?", blob).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, blob) {
			t.Fatalf("blob differs (len %d)", len(got))
		}
		z := e.conn(t, "maxAllowedPacket=0&compress=true")
		if err := z.QueryRowContext(context.Background(), "SELECT REPEAT('ab', 17 << 19)").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 17<<20 || !bytes.Equal(got[len(got)-4:], []byte("abab")) {
			t.Fatalf("compressed: %d bytes", len(got))
		}
	})

	t.Run("LoadDataLocal", func(t *testing.T) {
		e := newEnvOn(t, sb, nil)
		path := filepath.Join(t.TempDir(), "rows.tsv")
		var sbuf strings.Builder
		for i := 0; i < 5000; i++ {
			fmt.Fprintf(&sbuf, "%d\trow-%d\n", 1000+i, i)
		}
		if err := os.WriteFile(path, []byte(sbuf.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		mysql.RegisterLocalFile(path)
		c := e.conn(t, "")
		mustExec(t, c, "CREATE TABLE IF NOT EXISTS pt.load (k INT PRIMARY KEY, v VARCHAR(20))")
		res := mustExec(t, c, fmt.Sprintf("LOAD DATA LOCAL INFILE '%s' INTO TABLE pt.load", path))
		if n, _ := res.RowsAffected(); n != 5000 {
			t.Fatalf("loaded %d rows", n)
		}
		if got := queryString(t, c, "SELECT v FROM pt.load WHERE k = 5999"); got != "row-4999" {
			t.Fatalf("got %q", got)
		}
	})

	t.Run("Auth", func(t *testing.T) {
		e := newEnvOn(t, sb, nil)
		time.Sleep(200 * time.Millisecond) // let pre-warming settle
		connects := func() (n int64) {
			for _, p := range e.srv.Pools() {
				n += p.ConnectsTotal
			}
			return n
		}
		before := connects()
		for _, up := range [][2]string{{"app", "wrong"}, {"nobody", "app"}, {"app", ""}} {
			db, _ := sql.Open("mysql", e.dsn(up[0], up[1], ""))
			err := db.Ping()
			db.Close()
			if mysqlErr(err) != 1045 || !strings.Contains(err.Error(), "Access denied for user '"+up[0]+"'") {
				t.Fatalf("%v: got %v", up, err)
			}
		}
		// Counted just after the ERR reaches the client.
		for deadline := time.Now().Add(5 * time.Second); e.srv.Stats().AuthFailures != 3; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("auth failures %d, want 3", e.srv.Stats().AuthFailures)
			}
		}
		if after := connects(); after != before {
			t.Fatalf("failed logins opened %d backend connections", after-before)
		}
	})

	t.Run("LoginChecksDatabase", func(t *testing.T) {
		mustExec(t, prim, "CREATE USER IF NOT EXISTS noprivs@'%' IDENTIFIED BY 'pw3'")
		e := newEnvOn(t, sb, func(c *config.Config) {
			c.Users = append(c.Users, config.User{Name: "noprivs", Password: "pw3"})
		})
		login := func(user, pass, db string) error {
			h, _ := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/%s", user, pass, e.addr, db))
			defer h.Close()
			return h.Ping()
		}
		// Refused in the handshake, as mysqld refuses them: the client
		// never sees an OK.
		if err := login("app", "app", "no_such_db"); mysqlErr(err) != 1049 || !strings.Contains(err.Error(), "Unknown database 'no_such_db'") {
			t.Errorf("unknown database: %v, want 1049", err)
		}
		if err := login("noprivs", "pw3", "pt2"); mysqlErr(err) != 1044 || !strings.Contains(err.Error(), "Access denied for user 'noprivs'") {
			t.Errorf("database without privileges: %v, want 1044", err)
		}
		for _, up := range [][3]string{{"app", "app", "pt"}, {"noprivs", "pw3", ""}, {"app", "app", "pt"}} {
			if err := login(up[0], up[1], up[2]); err != nil {
				t.Errorf("%s into %s: %v", up[0], up[2], err)
			}
		}
		if st := e.srv.Stats(); st.AuthFailures != 0 {
			t.Errorf("%d auth failures counted for database refusals", st.AuthFailures)
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		e := newEnvOn(t, sb, func(c *config.Config) {
			c.Limits.MaxPacketSize = 1 << 20
			c.Limits.HandshakeTimeout = config.Duration(500 * time.Millisecond)
		})
		good := e.conn(t, "")
		mustExec(t, good, "SELECT 1")
		// Garbage instead of a handshake response.
		nc, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := readAll(nc); err != nil {
			t.Fatalf("garbage handshake: connection not closed: %v", err)
		}
		// Silent client: closed at the handshake timeout.
		silent, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer silent.Close()
		silent.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := readAll(silent); err != nil {
			t.Fatalf("silent client: %v", err)
		}
		// Truncated/malformed commands after login.
		for _, bad := range [][]byte{{wire.ComStmtExecute, 1}, {wire.ComProcessKill}, {wire.ComSetOption}} {
			r := rawConn(t, e.addr, 0)
			r.send(bad)
			r.c.NetConn().SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := r.c.ReadPacket(); err == nil {
				t.Fatalf("malformed %#x: got a reply, want the connection closed", bad[0])
			}
		}
		// An oversized packet: ERR 1153, then closed.
		r := rawConn(t, e.addr, 0)
		r.send(append([]byte{wire.ComQuery}, bytes.Repeat([]byte("x"), 2<<20)...))
		var be *wire.Error
		if err := r.drain(); !errors.As(err, &be) || be.Code != wire.ErrNetPacketTooLarge {
			t.Fatalf("oversized: %v", err)
		}
		mustExec(t, good, "SELECT 1") // everyone else is unaffected
	})

	t.Run("ConnectionLimits", func(t *testing.T) {
		e := newEnvOn(t, sb, func(c *config.Config) {
			c.Limits.MaxClientConnections = 2
			c.Limits.IdleTimeout = config.Duration(time.Second)
		})
		a := e.conn(t, "")
		mustExec(t, a, "SELECT 1")
		b := e.conn(t, "")
		mustExec(t, b, "SELECT 1")
		db, _ := sql.Open("mysql", e.dsn("app", "app", ""))
		defer db.Close()
		if err := db.Ping(); mysqlErr(err) != 1040 {
			t.Fatalf("third client: %v", err)
		}
		// Per-user limit.
		cfg := *e.cfg
		cfg.Limits.MaxClientConnections = 10
		cfg.Users = []config.User{{Name: "app", Password: "app", MaxConnections: 2}}
		if err := e.srv.Reload(&cfg); err != nil {
			t.Fatal(err)
		}
		if err := db.Ping(); mysqlErr(err) != 1203 {
			t.Fatalf("over the user's max_connections: %v", err)
		}
		for deadline := time.Now().Add(6 * time.Second); e.srv.Stats().ClientsConnected != 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d clients still connected 6s after a 1s idle timeout", e.srv.Stats().ClientsConnected)
			}
		}
	})

	t.Run("ReloadObserveShutdown", func(t *testing.T) {
		e := newEnvOn(t, sb, nil)
		obs := &countObserver{}
		e.srv.opts.Observer = obs // before any client
		c := e.conn(t, "")
		mustExec(t, c, "SELECT 1")
		// A new password applies to new logins; connected clients keep working.
		cfg := *e.cfg
		cfg.Users = []config.User{{Name: "app", Password: "app2"}}
		if err := e.srv.Reload(&cfg); err != nil {
			t.Fatal(err)
		}
		db, _ := sql.Open("mysql", e.dsn("app", "app", ""))
		defer db.Close()
		if err := db.Ping(); mysqlErr(err) != 1045 {
			t.Fatalf("old password after reload: %v", err)
		}
		mustExec(t, c, "SELECT 2")
		// Shutdown lets the running statement finish and refuses new clients.
		done := make(chan error, 1)
		go func() {
			var v int
			done <- c.QueryRowContext(context.Background(), "SELECT SLEEP(1) + 5").Scan(&v)
		}()
		time.Sleep(300 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("statement running at shutdown: %v", err)
		}
		if _, err := net.DialTimeout("tcp", e.addr, time.Second); err == nil {
			t.Fatal("listener still accepting after shutdown")
		}
		if n, failed := obs.counts(); n != 3 || failed != 0 {
			t.Fatalf("observer saw %d statements, %d failed", n, failed)
		}
	})

	t.Run("ChangeUserAndReset", func(t *testing.T) {
		mustExec(t, prim, "CREATE USER IF NOT EXISTS other@'%' IDENTIFIED BY 'pw2'")
		// The script's write must stay visible to the connection after its
		// COM_CHANGE_USERs: the replica stops applying and stays eligible.
		mustExec(t, prim, "DROP TABLE IF EXISTS pt2.cu")
		mustExec(t, prim, "CREATE TABLE pt2.cu (id INT)")
		sb.CatchUp(t, "db1", "db2")
		pauseReplica(t, sb)
		e := newEnvOn(t, sb, func(c *config.Config) {
			c.Users = append(c.Users, config.User{Name: "other", Password: "pw2"})
			c.Routing.MaxReplicaLag = config.Duration(time.Hour)
		})
		host, port, _ := net.SplitHostPort(e.addr)
		out, err := exec.Command("python3", "testdata/change_user.py", host, port).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "ok" {
			t.Fatalf("libmariadb change_user/reset_connection: %v\n%s", err, out)
		}
	})

	t.Run("ReplicaMissingTable", func(t *testing.T) {
		// A table created on the primary that the replica does not have yet
		// (its SQL thread is stopped): another connection's read of it gets
		// the primary's answer, not the replica's 1146.
		e := newEnvOn(t, sb, nil)
		pauseReplica(t, sb)
		mustExec(t, prim, "CREATE TABLE pt.fresh (k INT PRIMARY KEY, v VARCHAR(10))")
		defer mustExec(t, prim, "DROP TABLE pt.fresh")
		mustExec(t, prim, "INSERT INTO pt.fresh VALUES (1, 'new')")
		c := e.conn(t, "")
		if got := queryString(t, c, "SELECT @@server_id"); got != "2" {
			t.Fatalf("plain read served by server_id %s, want the replica (2)", got)
		}
		if got := queryString(t, c, "SELECT v FROM pt.fresh WHERE k = 1"); got != "new" {
			t.Fatalf("text protocol read of a table the replica lacks: %q", got)
		}
		var v string
		if err := e.db(t, "").QueryRow("SELECT v FROM pt.fresh WHERE k = ?", 1).Scan(&v); err != nil || v != "new" {
			t.Fatalf("prepared read of a table the replica lacks: %q, %v", v, err)
		}
		// A table missing everywhere gets the primary's error unchanged.
		_, err := c.ExecContext(context.Background(), "SELECT * FROM pt.nowhere")
		if mysqlErr(err) != 1146 || !strings.Contains(err.Error(), "Table 'pt.nowhere' doesn't exist") {
			t.Fatalf("missing table: %v", err)
		}
	})

	t.Run("WritesNeverOnReplicas", func(t *testing.T) {
		// The app user may write on a read_only replica (it has SUPER here),
		// so a write routed there would silently diverge the replica: check
		// on the servers where each write landed.
		e := newEnvOn(t, sb, nil)
		replica := sb.DB(t, "db2")
		mustExec(t, prim, "CREATE TABLE pt.ac (id INT PRIMARY KEY, v INT)")
		defer mustExec(t, prim, "DROP TABLE pt.ac")
		mustExec(t, prim, "INSERT INTO pt.ac VALUES (1, 0)")
		sb.CatchUp(t, "db1", "db2")
		onPrimary := func(want string) {
			t.Helper()
			if got := queryString(t, prim, "SELECT v FROM pt.ac WHERE id = 1"); got != want {
				t.Fatalf("primary has v = %s, want %s", got, want)
			}
		}

		// autocommit=0 (PyMySQL's and mysqlclient's default, JDBC's
		// setAutoCommit(false)): every statement is part of a transaction
		// that may write, so reads stay on the primary too.
		c := e.conn(t, "")
		mustExec(t, c, "SET autocommit = 0")
		if got := queryString(t, c, "SELECT @@server_id"); got != "1" {
			t.Errorf("read with autocommit off on server %s, want the primary", got)
		}
		mustExec(t, c, "UPDATE pt.ac SET v = 1 WHERE id = 1")
		if got := queryString(t, c, "SELECT CONCAT(@@server_id, ' ', v) FROM pt.ac WHERE id = 1"); got != "1 1" {
			t.Errorf("own uncommitted write: %q, want it read on the primary", got)
		}
		mustExec(t, c, "COMMIT")
		onPrimary("1")
		mustExec(t, c, "SET autocommit = 1")
		if got := queryString(t, c, "SELECT @@server_id"); got != "2" {
			t.Errorf("read with autocommit back on: server %s, want the replica", got)
		}

		// A multi-statement of reads runs on a replica and must not leave
		// the session pinned there.
		m := e.conn(t, "multiStatements=true")
		rows, err := m.QueryContext(context.Background(), "SELECT @@server_id; SELECT 2")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
		}
		for rows.NextResultSet() {
		}
		rows.Close()
		mustExec(t, m, "UPDATE pt.ac SET v = 2 WHERE id = 1")
		onPrimary("2")
		sb.CatchUp(t, "db1", "db2")
		if got := queryString(t, replica, "SELECT v FROM pt.ac WHERE id = 1"); got != "2" {
			t.Fatalf("replica has v = %s after catching up, want 2", got)
		}
	})

	t.Run("StoredFunctionWriteOnReplica", func(t *testing.T) {
		// A stored function that writes, called in a SELECT, looks like a
		// read. A read_only replica refuses it (for a user without
		// READ_ONLY ADMIN, as applications should be) and the proxy runs it
		// on the primary instead.
		e := newEnvOn(t, sb, func(c *config.Config) {
			c.Users = append(c.Users, config.User{Name: sandbox.PlainUser, Password: sandbox.PlainPassword})
		})
		mustExec(t, prim, "CREATE TABLE pt.counter (n INT)")
		defer mustExec(t, prim, "DROP TABLE pt.counter")
		mustExec(t, prim, "INSERT INTO pt.counter VALUES (0)")
		mustExec(t, prim, "CREATE FUNCTION pt.bump() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN UPDATE pt.counter SET n = n + 1; RETURN (SELECT n FROM pt.counter); END")
		defer mustExec(t, prim, "DROP FUNCTION pt.bump")
		sb.CatchUp(t, "db1", "db2")
		plain, err := sql.Open("mysql", e.dsn(sandbox.PlainUser, sandbox.PlainPassword, ""))
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		if got := queryString(t, plain, "SELECT @@server_id"); got != "2" {
			t.Fatalf("plain read on server %s, want the replica", got)
		}
		if got := queryString(t, plain, "SELECT pt.bump()"); got != "1" {
			t.Fatalf("SELECT pt.bump() = %s, want 1", got)
		}
		sb.CatchUp(t, "db1", "db2")
		for _, db := range []*sql.DB{prim, sb.DB(t, "db2")} {
			if got := queryString(t, db, "SELECT n FROM pt.counter"); got != "1" {
				t.Fatalf("counter %s after one bump, want 1 on both servers", got)
			}
		}
	})

	t.Run("ClientStopsReading", func(t *testing.T) {
		// A client that asks for a large result and never reads it is cut
		// off after limits.write_timeout, and its backend connection is
		// freed; other clients are served meanwhile.
		e := newEnvOn(t, sb, func(c *config.Config) { c.Limits.WriteTimeout = config.Duration(time.Second) })
		stuck := rawConn(t, e.addr, 0)
		if err := stuck.send(append([]byte{wire.ComQuery}, "SELECT REPEAT('x', 1048576) FROM pt.seq_1_to_64"...)); err != nil {
			t.Fatal(err)
		}
		inUse := func() (n int) {
			for _, p := range e.srv.Pools() {
				n += p.InUse
			}
			return n
		}
		for deadline := time.Now().Add(5 * time.Second); inUse() != 1; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d backend connections in use while the result is blocked, want 1", inUse())
			}
		}
		other := e.db(t, "")
		mustExec(t, other, "SELECT 1") // everyone else is served
		other.Close()
		deadline := time.Now().Add(10 * time.Second)
		for inUse() != 0 || e.srv.Stats().ClientsConnected != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("after 10s: %d backend connections in use, %d clients connected", inUse(), e.srv.Stats().ClientsConnected)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("ReadYourWrites", func(t *testing.T) {
		// With the replica's SQL thread stopped, a read after the session's
		// own write cannot be served by the replica: MASTER_GTID_WAIT times
		// out and the read goes to the primary. Other sessions read the
		// replica.
		e := newEnvOn(t, sb, nil)
		pauseReplica(t, sb)
		c := e.conn(t, "")
		mustExec(t, c, "UPDATE pt.kv SET v = 'ryw' WHERE k = 2")
		defer mustExec(t, c, "UPDATE pt.kv SET v = 'two' WHERE k = 2")
		if got := queryString(t, c, "SELECT v FROM pt.kv WHERE k = 2"); got != "ryw" {
			t.Fatalf("read after own write: %q", got)
		}
		var s *session
		e.srv.mu.Lock()
		for _, ss := range e.srv.sessions {
			s = ss
		}
		e.srv.mu.Unlock()
		if !s.in.HasGTID || s.in.LastGTID.Seq == 0 {
			t.Fatalf("session GTID not tracked: %+v", s.in)
		}
		other := e.conn(t, "")
		if got := queryString(t, other, "SELECT v FROM pt.kv WHERE k = 2"); got != "two" {
			t.Fatalf("another session read %q, want the replica's stale 'two'", got)
		}
	})

	t.Run("MariadbCLI", func(t *testing.T) {
		if _, err := exec.LookPath("mariadb"); err != nil {
			t.Fatal("mariadb client not installed")
		}
		e := newEnvOn(t, sb, nil)
		host, port, _ := net.SplitHostPort(e.addr)
		for _, extra := range [][]string{nil, {"--ssl", "--skip-ssl-verify-server-cert"}, {"--compress"}} {
			args := append([]string{"-h", host, "-P", port, "-uapp", "-papp", "-N", "-B", "-e",
				"SELECT v FROM pt.kv WHERE k = 1; USE pt; SELECT COUNT(*) FROM kv WHERE k < 4; SHOW SESSION STATUS LIKE 'Ssl_cipher'"}, extra...)
			out, err := exec.Command("mariadb", args...).CombinedOutput()
			if err != nil {
				t.Fatalf("mariadb %v: %v\n%s", extra, err, out)
			}
			if !strings.HasPrefix(string(out), "one\n3\n") {
				t.Fatalf("mariadb %v: output %q", extra, out)
			}
		}
	})
}

// readAll reads until EOF; a deadline error means the peer kept it open.
func readAll(nc net.Conn) ([]byte, error) {
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := nc.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return out, err
			}
			return out, nil
		}
	}
}

type countObserver struct {
	mu        sync.Mutex
	n, failed int
}

func (o *countObserver) Statement(user string, sql []byte, route routing.Route, server string, d time.Duration, rows int64, failed bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n++
	if failed {
		o.failed++
	}
}

func (o *countObserver) counts() (int, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n, o.failed
}
