package sandbox_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/switchyard/sandbox"
	"github.com/switchyard/switchyard/sandbox/sandboxtest"
)

func count(t *testing.T, db *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestTopologyReplicatesAndSurvivesKill(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.New(t, sandboxtest.Replicas(2))
	if len(sb.Nodes) != 3 || sb.Nodes[0].Name != "db1" || sb.Nodes[2].Name != "db3" {
		t.Fatalf("nodes = %+v", sb.Nodes)
	}
	db1, db2, db3 := sb.DB(t, "db1"), sb.DB(t, "db2"), sb.DB(t, "db3")

	for name, db := range map[string]*sql.DB{"db1": db1, "db2": db2, "db3": db3} {
		var ro, strict, slaveUpdates int
		var format string
		err := db.QueryRow("SELECT @@read_only, @@gtid_strict_mode, @@log_slave_updates, @@binlog_format").Scan(&ro, &strict, &slaveUpdates, &format)
		if err != nil {
			t.Fatal(err)
		}
		if want := name != "db1"; (ro == 1) != want {
			t.Errorf("%s read_only = %d, want %v", name, ro, want)
		}
		if strict != 1 || slaveUpdates != 1 || format != "ROW" {
			t.Errorf("%s: gtid_strict_mode=%d log_slave_updates=%d binlog_format=%s", name, strict, slaveUpdates, format)
		}
	}

	mustExec(t, db1, "CREATE TABLE test.t (id INT PRIMARY KEY, v VARCHAR(20))")
	mustExec(t, db1, "INSERT INTO test.t VALUES (1, 'before kill')")
	sb.CatchUp(t, "db1", "db2", "db3")
	if n := count(t, db3, "SELECT COUNT(*) FROM test.t"); n != 1 {
		t.Fatalf("db3 has %d rows, want 1", n)
	}

	// kill -9 the primary: the committed row must survive the restart.
	pid := sb.Node("db1").Pid
	if err := sb.Kill("db1"); err != nil {
		t.Fatal(err)
	}
	if sb.Node("db1").Pid != 0 || processExists(pid) {
		t.Fatalf("db1 (pid %d) still running after Kill", pid)
	}
	if err := db1.Ping(); err == nil {
		t.Fatal("ping to killed db1 succeeded")
	}
	if err := sb.Start("db1"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db1, "SELECT COUNT(*) FROM test.t WHERE v = 'before kill'"); n != 1 {
		t.Fatalf("db1 lost the committed row across kill -9: %d rows", n)
	}

	// A replica killed while the primary takes writes catches up on restart.
	if err := sb.Kill("db2"); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db1, "INSERT INTO test.t VALUES (2, 'while db2 down')")
	if err := sb.Start("db2"); err != nil {
		t.Fatal(err)
	}
	sb.CatchUp(t, "db1", "db2")
	if n := count(t, db2, "SELECT COUNT(*) FROM test.t"); n != 2 {
		t.Fatalf("db2 has %d rows after restart, want 2", n)
	}
	if err := sb.Start("db2"); err == nil {
		t.Fatal("Start of a running node succeeded")
	}
}

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// processExists reports whether pid is alive (a zombie counts as dead).
func processExists(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	return err == nil && !strings.Contains(string(stat), ") Z ")
}

func TestUpOnExistingSandboxFails(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.New(t, sandboxtest.Replicas(0))
	_, err := sandbox.Up(context.Background(), sandbox.Options{Dir: sb.Dir, Ports: []int{sb.Nodes[0].Port}})
	if !errors.Is(err, sandbox.ErrExists) || !strings.Contains(err.Error(), "sandbox down") {
		t.Fatalf("Up on existing sandbox: err = %v, want ErrExists with a hint", err)
	}
	// The existing sandbox is untouched.
	if err := sb.DB(t, "db1").Ping(); err != nil {
		t.Fatalf("existing sandbox broken by second Up: %v", err)
	}
}

func TestUpOnUsedPortFails(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.New(t, sandboxtest.Replicas(0))
	_, err := sandbox.Up(context.Background(), sandbox.Options{Dir: t.TempDir(), Ports: []int{sb.Nodes[0].Port}})
	if !errors.Is(err, sandbox.ErrPortInUse) {
		t.Fatalf("Up on a used port: err = %v, want ErrPortInUse", err)
	}
}

func TestDownLeavesNothing(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "sb")
	s, err := sandbox.Up(context.Background(), sandbox.Options{Dir: dir, Ports: sandboxtest.FreePorts(t, 2), ExitWithParent: true})
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, n := range s.Nodes {
		if !processExists(n.Pid) {
			t.Fatalf("%s pid %d not running after Up", n.Name, n.Pid)
		}
		pids = append(pids, n.Pid)
	}
	// Down through a second handle, as `switchyard sandbox down` does from
	// another process: it has only the state file's pids.
	opened, err := sandbox.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := opened.Down(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if processExists(pid) {
			t.Errorf("pid %d still running after Down", pid)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Down: %v", dir, err)
	}
	if err := s.Down(); err != nil {
		t.Errorf("second Down: %v", err)
	}
	if _, err := sandbox.Open(dir); err == nil {
		t.Error("Open after Down succeeded")
	}
}

func TestKillAndStartFromOpenedState(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.New(t, sandboxtest.Replicas(1))
	db1 := sb.DB(t, "db1")
	mustExec(t, db1, "CREATE TABLE test.k (id INT PRIMARY KEY)")
	opened, err := sandbox.Open(sb.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := opened.Kill("db2"); err != nil {
		t.Fatal(err)
	}
	if err := opened.Kill("db2"); err == nil {
		t.Error("second Kill of a dead node succeeded")
	}
	mustExec(t, db1, "INSERT INTO test.k VALUES (1)")
	if err := opened.Start("db2"); err != nil {
		t.Fatal(err)
	}
	// The state file now names the new pid, so the test's own handle can
	// still tear the restarted node down.
	reopened, err := sandbox.Open(sb.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := reopened.Node("db2").Pid, opened.Node("db2").Pid; got != want || !processExists(got) {
		t.Fatalf("state file pid %d, started pid %d", got, want)
	}
	db2 := sb.DB(t, "db2")
	sb.CatchUp(t, "db1", "db2")
	if n := count(t, db2, "SELECT COUNT(*) FROM test.k"); n != 1 {
		t.Fatalf("db2 has %d rows, want 1", n)
	}
	if err := opened.Kill("nope"); err == nil {
		t.Error("Kill of an unknown node succeeded")
	}
}

func TestParallelSandboxesAreIsolated(t *testing.T) {
	t.Parallel()
	a := sandboxtest.New(t, sandboxtest.Replicas(1))
	b := sandboxtest.New(t, sandboxtest.Replicas(1))
	seen := map[int]bool{}
	for _, n := range append(append([]*sandbox.Node{}, a.Nodes...), b.Nodes...) {
		if seen[n.Port] {
			t.Fatalf("port %d used twice", n.Port)
		}
		seen[n.Port] = true
	}
	mustExec(t, a.DB(t, "db1"), "CREATE TABLE test.only_in_a (id INT)")
	a.CatchUp(t, "db1", "db2")
	if n := count(t, b.DB(t, "db2"), "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'only_in_a'"); n != 0 {
		t.Fatal("a write to sandbox a is visible in sandbox b")
	}
	if n := count(t, a.DB(t, "db2"), "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'only_in_a'"); n != 1 {
		t.Fatal("sandbox a's replica did not get the table")
	}
}

func TestSemiSync(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.New(t, sandboxtest.SemiSync())
	db1 := sb.DB(t, "db1")
	mustExec(t, db1, "CREATE TABLE test.s (id INT PRIMARY KEY)")
	mustExec(t, db1, "INSERT INTO test.s VALUES (1)")
	status := func(name string) string {
		var k, v string
		if err := db1.QueryRow("SHOW GLOBAL STATUS LIKE '"+name+"'").Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := status("Rpl_semi_sync_master_status"); v != "ON" {
		t.Errorf("Rpl_semi_sync_master_status = %s", v)
	}
	if v := status("Rpl_semi_sync_master_clients"); v != "2" {
		t.Errorf("Rpl_semi_sync_master_clients = %s", v)
	}
	if v := status("Rpl_semi_sync_master_yes_tx"); v == "0" {
		t.Error("no transaction was acknowledged semi-synchronously")
	}
}

// The monitor user must be able to do everything monitoring and failover
// need, without SUPER, and nothing that needs the app user's ALL.
func TestMonitorUserPrivileges(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.New(t, sandboxtest.Replicas(1))
	open := func(name string) *sql.DB {
		db, err := sql.Open("mysql", sb.DSN(name, sandbox.MonitorUser, sandbox.MonitorPassword))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	mon1, mon2 := open("db1"), open("db2")
	for _, q := range []string{
		"CREATE TABLE IF NOT EXISTS switchyard.heartbeat (server_id INT UNSIGNED PRIMARY KEY, ts VARCHAR(26) NOT NULL)",
		"REPLACE INTO switchyard.heartbeat VALUES (@@server_id, NOW(6))",
		"UPDATE switchyard.heartbeat SET ts = NOW(6)",
		"SHOW MASTER STATUS",
		"SHOW PROCESSLIST",
		"SET GLOBAL read_only = 1",
		"SET GLOBAL read_only = 0",
	} {
		mustExec(t, mon1, q)
	}
	for _, q := range []string{
		"SHOW SLAVE STATUS",
		"STOP SLAVE",
		"SET GLOBAL gtid_slave_pos = @@gtid_slave_pos",
		"CHANGE MASTER TO MASTER_USE_GTID = slave_pos",
		"START SLAVE",
		"SET GLOBAL read_only = 0",
		"SET GLOBAL read_only = 1",
	} {
		mustExec(t, mon2, q)
	}
	if _, err := mon1.Exec("CREATE TABLE test.nope (id INT)"); err == nil {
		t.Error("monitor user can create tables outside the switchyard schema")
	}
	var id int
	if err := mon1.QueryRow("SELECT id FROM information_schema.processlist WHERE user = 'repl' LIMIT 1").Scan(&id); err != nil {
		t.Fatalf("replication connection not visible to the monitor user: %v", err)
	}
	mustExec(t, mon1, "KILL CONNECTION ?", id)
}

// BenchmarkUp measures bringing up a primary with two replicas (replication
// running) and tearing it down again.
func BenchmarkUp(b *testing.B) {
	for b.Loop() {
		s, err := sandbox.Up(context.Background(), sandbox.Options{Dir: filepath.Join(b.TempDir(), "sb"), Ports: sandboxtest.FreePorts(b, 3), ExitWithParent: true})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Down(); err != nil {
			b.Fatal(err)
		}
	}
}

// A test binary that dies (crash, kill -9, timeout) must not leak mariadbd:
// run a helper test in a child process, kill it, and watch its nodes go.
func TestNodesDieWithTestProcess(t *testing.T) {
	if os.Getenv("SWITCHYARD_SANDBOX_HELPER") != "" {
		t.Skip("helper process")
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldSandbox$", "-test.v")
	cmd.Env = append(os.Environ(), "SWITCHYARD_SANDBOX_HELPER=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pids []int
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "SANDBOX "); ok {
			f := strings.Fields(rest)
			// The dying helper cannot remove its directory (sandboxtest's temp root).
			t.Cleanup(func() { os.RemoveAll(filepath.Dir(f[0])) })
			for _, p := range f[1:] {
				pid, _ := strconv.Atoi(p)
				pids = append(pids, pid)
			}
			break
		}
	}
	if len(pids) != 2 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper did not report its node pids: %v", pids)
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for _, pid := range pids {
		for processExists(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, pid := range pids {
		if processExists(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("mariadbd pid %d outlived its killed test process", pid)
		}
	}
}

// TestHelperHoldSandbox is the child of TestNodesDieWithTestProcess.
func TestHelperHoldSandbox(t *testing.T) {
	if os.Getenv("SWITCHYARD_SANDBOX_HELPER") == "" {
		t.Skip("only runs as a helper process")
	}
	sb := sandboxtest.New(t, sandboxtest.Replicas(1))
	fmt.Printf("SANDBOX %s %d %d\n", sb.Dir, sb.Nodes[0].Pid, sb.Nodes[1].Pid)
	time.Sleep(time.Minute) // until killed
}
