package app_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/app"
	"github.com/switchyard/switchyard/app/apptest"
	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/sandbox"
	"github.com/switchyard/switchyard/sandbox/sandboxtest"
	"github.com/switchyard/switchyard/topology"
)

// startApp runs a whole Switchyard in front of sb on free ports, with its
// config written to a file so RELOAD CONFIG can re-read it.
func startApp(t *testing.T, sb *sandbox.Sandbox, mutate func(*config.Config)) *app.App {
	t.Helper()
	cfg := sb.Config()
	cfg.Listen = config.Listen{App: "127.0.0.1:0", Admin: "127.0.0.1:0", Metrics: "127.0.0.1:0"}
	cfg.Failover.AntiFlap = config.Duration(time.Second)
	if mutate != nil {
		mutate(cfg)
	}
	return apptest.Start(t, cfg, slog.LevelInfo)
}

func openApp(t *testing.T, a *app.App, params string) *sql.DB {
	t.Helper()
	dsn := fmt.Sprintf("app:app@tcp(%s)/?%s", a.AppAddr(), params)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openAdmin(t *testing.T, a *app.App) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", fmt.Sprintf("admin:admin@tcp(%s)/", a.AdminAddr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func serverID(t *testing.T, q interface {
	QueryRow(string, ...any) *sql.Row
}) int {
	t.Helper()
	var id int
	if err := q.QueryRow("SELECT @@server_id").Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// eventually polls cond until it holds or the bound passes.
func eventually(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", bound, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestReadWriteSplitEndToEnd(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.New(t, sandboxtest.Replicas(2))
	a := startApp(t, sb, nil)
	db := openApp(t, a, "")
	db.SetMaxOpenConns(4)

	seen := map[int]int{}
	for range 60 {
		seen[serverID(t, db)]++
	}
	if seen[1] != 0 || seen[2] == 0 || seen[3] == 0 {
		t.Fatalf("autocommit reads by server_id = %v; want only replicas 2 and 3, both used", seen)
	}

	if _, err := db.Exec("CREATE TABLE IF NOT EXISTS test.rw (id INT PRIMARY KEY, v INT)"); err != nil {
		t.Fatal(err)
	}
	// Read-your-writes: every insert is visible to the very next read.
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range 300 {
		if _, err := conn.ExecContext(context.Background(), "INSERT INTO test.rw VALUES (?, ?)", i, i); err != nil {
			t.Fatal(err)
		}
		var v int
		if err := conn.QueryRowContext(context.Background(), "SELECT v FROM test.rw WHERE id = ?", i).Scan(&v); err != nil {
			t.Fatalf("read-your-writes: row %d not visible right after its insert: %v", i, err)
		}
	}

	// A transaction stays on the primary, reads included.
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if id := serverID(t, tx); id != 1 {
			t.Fatalf("read inside a read-write transaction went to server_id %d, want the primary (1)", id)
		}
	}
	tx.Rollback()
}

func TestAllReplicasDownReadsFallBackToPrimary(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.New(t, sandboxtest.Replicas(2))
	a := startApp(t, sb, nil)
	db := openApp(t, a, "")
	for _, n := range []string{"db2", "db3"} {
		if err := sb.Kill(n); err != nil {
			t.Fatal(err)
		}
	}
	// Every read must succeed, during the time the monitors take to notice
	// and after; once they have, reads are served by the primary.
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		serverID(t, db)
	}
	for range 20 {
		if id := serverID(t, db); id != 1 {
			t.Fatalf("read served by server_id %d with both replicas dead", id)
		}
	}
}

func TestAdminOfflineStopsReadsAndOnlineRestores(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.New(t, sandboxtest.Replicas(2))
	a := startApp(t, sb, nil)
	db := openApp(t, a, "")
	admin := openAdmin(t, a)

	if _, err := admin.Exec("SET SERVER 'db2' OFFLINE"); err != nil {
		t.Fatal(err)
	}
	for range 40 {
		if id := serverID(t, db); id == 2 {
			t.Fatal("a read went to db2 after SET SERVER 'db2' OFFLINE")
		}
	}
	if _, err := admin.Exec("SET SERVER 'db2' ONLINE"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "reads reach db2 again after ONLINE", func() bool { return serverID(t, db) == 2 })

	if _, err := admin.Exec("SET SERVER 'nope' OFFLINE"); err == nil {
		t.Fatal("SET SERVER on an unknown server succeeded")
	}
}

func TestAdminKillClientClosesOnlyThatClient(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.New(t, sandboxtest.Replicas(1))
	a := startApp(t, sb, nil)
	admin := openAdmin(t, a)

	victim, other := openApp(t, a, ""), openApp(t, a, "")
	victim.SetMaxOpenConns(1)
	other.SetMaxOpenConns(1)
	vc, _ := victim.Conn(context.Background())
	oc, _ := other.Conn(context.Background())
	defer vc.Close()
	defer oc.Close()
	var vid uint64
	// CONNECTION_ID() comes from a pooled backend; the proxy's own id is in SHOW CLIENTS.
	if err := vc.PingContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := oc.PingContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	rows, err := admin.Query("SHOW CLIENTS")
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	var ids []uint64
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var id uint64
		fmt.Sscan(string(vals[0]), &id)
		ids = append(ids, id)
	}
	rows.Close()
	if len(ids) != 2 {
		t.Fatalf("SHOW CLIENTS lists %d clients, want 2", len(ids))
	}
	vid = ids[0]
	if _, err := admin.Exec(fmt.Sprintf("KILL CLIENT %d", vid)); err != nil {
		t.Fatal(err)
	}
	// Exactly one of the two connections is now dead; the other still works.
	errV := vc.QueryRowContext(context.Background(), "SELECT 1").Scan(new(int))
	errO := oc.QueryRowContext(context.Background(), "SELECT 1").Scan(new(int))
	if (errV == nil) == (errO == nil) {
		t.Fatalf("after KILL CLIENT %d: victim err=%v, other err=%v; want exactly one closed", vid, errV, errO)
	}
}

func TestReloadConfigAddsReplicaAndRejectsBadConfig(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.New(t, sandboxtest.Replicas(2))
	a := startApp(t, sb, func(c *config.Config) { c.Servers = c.Servers[:2] }) // db3 not configured yet
	db := openApp(t, a, "")
	admin := openAdmin(t, a)
	for range 20 {
		if serverID(t, db) == 3 {
			t.Fatal("read reached db3 before it was configured")
		}
	}

	// A broken file is refused whole and the running config keeps serving.
	path := a.Config().Path
	good, _ := os.ReadFile(path)
	if err := os.WriteFile(path, append(good, []byte("bogus_key: 1\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec("RELOAD CONFIG"); err == nil || !strings.Contains(err.Error(), "bogus_key") {
		t.Fatalf("RELOAD CONFIG of an invalid file: err = %v, want the validation error naming bogus_key", err)
	}
	serverID(t, db)

	full := sb.Config()
	next := a.Config()
	next2 := *next
	next2.Servers = full.Servers
	apptest.WriteConfig(t, &next2, path)
	if _, err := admin.Exec("RELOAD CONFIG"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "reads reach db3 after RELOAD CONFIG added it", func() bool { return serverID(t, db) == 3 })
}

// TestFailoverUnderLoadEndToEnd kills the primary with -9 while writers run
// through the proxy: statements sent after the crash must not fail, every
// acknowledged insert must be on the new primary, the other replica must follow
// it, and a transaction open at the crash gets one retryable error.
func TestFailoverUnderLoadEndToEnd(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.New(t, sandboxtest.Replicas(2), sandboxtest.SemiSync())
	a := startApp(t, sb, nil)
	db := openApp(t, a, "")
	if _, err := db.Exec("CREATE TABLE test.drill (id INT PRIMARY KEY, w INT)"); err != nil {
		t.Fatal(err)
	}

	// A session with a transaction open on the primary when it dies.
	txConn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer txConn.Close()
	if _, err := txConn.ExecContext(context.Background(), "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := txConn.ExecContext(context.Background(), "INSERT INTO test.drill VALUES (-1, -1)"); err != nil {
		t.Fatal(err)
	}

	type result struct {
		acked    []int
		lateErrs []error // errors of statements sent after the kill
	}
	var killedAt time.Time
	killed := make(chan struct{})
	stop := make(chan struct{})
	results := make(chan result, 4)
	for w := range 4 {
		go func() {
			var r result
			for i := 0; ; i++ {
				select {
				case <-stop:
					results <- r
					return
				default:
				}
				id := w*1_000_000 + i
				sent := time.Now()
				_, err := db.Exec("INSERT INTO test.drill VALUES (?, ?)", id, w)
				if err == nil {
					r.acked = append(r.acked, id)
					continue
				}
				select {
				case <-killed:
					if sent.After(killedAt) {
						r.lateErrs = append(r.lateErrs, err)
					}
				default:
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	killedAt = time.Now()
	if err := sb.Kill("db1"); err != nil {
		t.Fatal(err)
	}
	close(killed)
	eventually(t, 15*time.Second, "a new primary is promoted", func() bool {
		s := a.View().Load()
		return s.Primary != "" && s.Primary != "db1" && s.Gate == topology.WritesOpen
	})
	time.Sleep(time.Second) // writes flow on the new primary
	close(stop)
	var acked []int
	for range 4 {
		r := <-results
		acked = append(acked, r.acked...)
		for _, err := range r.lateErrs {
			t.Errorf("statement sent after the crash failed: %v", err)
		}
	}

	newPrimary := a.View().Load().Primary
	direct := sb.DB(t, newPrimary)
	for _, id := range acked {
		var n int
		if err := direct.QueryRow("SELECT COUNT(*) FROM test.drill WHERE id = ?", id).Scan(&n); err != nil || n != 1 {
			t.Fatalf("acknowledged insert %d missing on new primary %s (n=%d, err=%v)", id, newPrimary, n, err)
		}
	}
	t.Logf("%d acknowledged inserts, all on %s", len(acked), newPrimary)

	// The transaction that was open on the dead primary: one retryable error,
	// then the connection works.
	_, err = txConn.ExecContext(context.Background(), "INSERT INTO test.drill VALUES (-2, -2)")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1213 {
		t.Fatalf("statement in a transaction open at the crash: err = %v, want MySQL error 1213 (retryable)", err)
	}
	if _, err := txConn.ExecContext(context.Background(), "INSERT INTO test.drill VALUES (-3, -3)"); err != nil {
		t.Fatalf("connection unusable after the aborted transaction: %v", err)
	}

	// The other replica follows the new primary.
	other := "db2"
	if newPrimary == "db2" {
		other = "db3"
	}
	eventually(t, 5*time.Second, other+" replicates from the new primary", func() bool {
		var n int
		return sb.DB(t, other).QueryRow("SELECT COUNT(*) FROM test.drill WHERE id = -3").Scan(&n) == nil && n == 1
	})
}

func TestSwitchoverUnderLoadEndToEnd(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.New(t, sandboxtest.Replicas(2))
	a := startApp(t, sb, nil)
	db := openApp(t, a, "")
	admin := openAdmin(t, a)
	if _, err := db.Exec("CREATE TABLE test.sw (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	errs := make(chan error, 1000)
	done := make(chan int, 4)
	for w := range 4 {
		go func() {
			n := 0
			for i := 0; ; i++ {
				select {
				case <-stop:
					done <- n
					return
				default:
				}
				if _, err := db.Exec("INSERT INTO test.sw VALUES (?)", w*1_000_000+i); err != nil {
					errs <- err
				} else {
					n++
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := admin.Exec("SWITCHOVER TO 'db2'"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	total := 0
	for range 4 {
		total += <-done
	}
	close(errs)
	for err := range errs {
		t.Errorf("client error during switchover: %v", err)
	}
	if p := a.View().Load().Primary; p != "db2" {
		t.Fatalf("primary after SWITCHOVER TO 'db2' = %q", p)
	}
	var n int
	if err := sb.DB(t, "db2").QueryRow("SELECT COUNT(*) FROM test.sw").Scan(&n); err != nil || n != total {
		t.Fatalf("new primary has %d rows, %d inserts were acknowledged (err %v)", n, total, err)
	}
}

// TestReadYourWritesGlobal: with read_your_writes: global, a session that
// never wrote still sees every write another session made, even when the
// replicas (kept eligible by a huge lag limit) have stopped applying.
func TestReadYourWritesGlobal(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.New(t, sandboxtest.Replicas(2))
	a := startApp(t, sb, func(c *config.Config) {
		c.Routing.ReadYourWrites = "global"
		c.Routing.MaxReplicaLag = config.Duration(time.Hour)
		c.Routing.LagHysteresis = 0
	})
	writer, reader := openApp(t, a, ""), openApp(t, a, "")
	if _, err := writer.Exec("CREATE TABLE test.g (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "table on the replicas", func() bool {
		var n int
		return sb.DB(t, "db3").QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='test' AND table_name='g'").Scan(&n) == nil && n == 1
	})
	for _, n := range []string{"db2", "db3"} {
		if _, err := sb.DB(t, n).Exec("STOP SLAVE SQL_THREAD"); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 30 {
		if _, err := writer.Exec("INSERT INTO test.g VALUES (?)", i); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := reader.QueryRow("SELECT COUNT(*) FROM test.g WHERE id = ?", i).Scan(&n); err != nil || n != 1 {
			t.Fatalf("another session's write %d not visible with read_your_writes: global (n=%d, err=%v)", i, n, err)
		}
	}
}

// TestReadYourWritesWithDelayedReplicas: replicas two seconds behind (and
// kept eligible by a huge lag limit, so only read-your-writes protects the
// session) never serve a session a read older than its own last write.
func TestReadYourWritesWithDelayedReplicas(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.New(t, sandboxtest.Replicas(2))
	a := startApp(t, sb, func(c *config.Config) {
		c.Routing.MaxReplicaLag = config.Duration(time.Hour)
		c.Routing.LagHysteresis = 0
		c.Routing.RYWWait = 0 // straight to the primary when no replica has the write
	})
	db := openApp(t, a, "")
	if _, err := db.Exec("CREATE TABLE test.ryw (id INT PRIMARY KEY, v INT)"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"db2", "db3"} {
		for _, q := range []string{"STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY=2", "START SLAVE"} {
			if _, err := sb.DB(t, n).Exec(q); err != nil {
				t.Fatal(err)
			}
		}
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	replicaReads := 0
	for i := range 1000 {
		if _, err := conn.ExecContext(ctx, "INSERT INTO test.ryw VALUES (?, ?)", i, i); err != nil {
			t.Fatal(err)
		}
		var v, id int
		if err := conn.QueryRowContext(ctx, "SELECT v, @@server_id FROM test.ryw WHERE id = ?", i).Scan(&v, &id); err != nil {
			t.Fatalf("iteration %d: own insert not visible to the next read: %v", i, err)
		}
		if id != 1 {
			replicaReads++
		}
	}
	// Reads that did not follow a write still use the (stale) replicas.
	if id := serverID(t, db); id == 1 {
		t.Errorf("a session that never wrote read from the primary; want a replica")
	}
	t.Logf("1000 insert-then-select iterations, %d reads served by replicas", replicaReads)
}
