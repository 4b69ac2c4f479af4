package health

import (
	"context"
	"database/sql"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/gtid"
	"github.com/switchyard/switchyard/sandbox"
	"github.com/switchyard/switchyard/sandbox/sandboxtest"
	"github.com/switchyard/switchyard/topology"
)

// cluster is a sandbox watched by a running Monitor, with db1 as primary.
type cluster struct {
	sb   *sandbox.Sandbox
	cfg  *config.Config
	view *topology.View
	mon  *Monitor
}

// startCluster starts a sandbox with n replicas and a monitor on it. The
// timeout is generous because the machine running the tests is shared; the
// interval is short so the tests are quick.
func startCluster(t *testing.T, replicas int, tweak func(*config.Config)) *cluster {
	t.Helper()
	return startClusterOn(t, sandboxtest.New(t, sandboxtest.Replicas(replicas)), tweak)
}

func startClusterOn(t *testing.T, sb *sandbox.Sandbox, tweak func(*config.Config)) *cluster {
	t.Helper()
	cfg := sb.Config()
	cfg.Health.Interval = config.Duration(100 * time.Millisecond)
	cfg.Health.Timeout = config.Duration(time.Second)
	if tweak != nil {
		tweak(cfg)
	}
	var servers []topology.Server
	for _, s := range cfg.Servers {
		srv := ServerFromConfig(s)
		srv.Role = topology.RoleReplica
		if s.Name == "db1" {
			srv.Role = topology.RolePrimary
		}
		servers = append(servers, srv)
	}
	view := topology.NewView(servers)
	view.Update(func(s *topology.Snapshot) { s.Primary = "db1" })
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	mon := New(cfg, view, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		mon.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	c := &cluster{sb: sb, cfg: cfg, view: view, mon: mon}
	if cfg.Health.Heartbeat {
		c.waitHeartbeats(t)
	}
	return c
}

// waitHeartbeats waits until every replica holds a heartbeat from db1, so
// lag is measured by heartbeat rather than Seconds_Behind_Master.
func (c *cluster) waitHeartbeats(t *testing.T) {
	t.Helper()
	q := "SELECT COUNT(*) FROM switchyard.heartbeat WHERE server_id = " + strconv.Itoa(int(c.sb.Node("db1").ServerID))
	for _, n := range c.sb.Nodes[1:] {
		db := c.sb.DB(t, n.Name)
		c.waitFor(t, n.Name, 10*time.Second, "holding a heartbeat", func(*topology.Server) bool {
			var rows int
			db.QueryRow(q).Scan(&rows)
			return rows > 0
		})
	}
}

// waitFor polls the view until cond holds for the named server, failing the
// test after within. It returns the server as last seen.
func (c *cluster) waitFor(t *testing.T, name string, within time.Duration, what string, cond func(s *topology.Server) bool) topology.Server {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := c.view.Load().Server(name)
		if s != nil && cond(s) {
			return *s
		}
		if time.Now().After(deadline) {
			if s == nil {
				t.Fatalf("%s: not in the view after %v (want %s)", name, within, what)
			}
			t.Fatalf("%s: not %s within %v: reachable=%v err=%q io=%v sql=%v lag=%d eligible=%v read_only=%v gtid=%s repl_err=%q",
				name, what, within, s.Reachable, s.LastError, s.IOThread, s.SQLThread, s.LagMs, s.LagEligible, s.ReadOnly, s.GTID, s.ReplError)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settle bounds waits for state that should follow within a few checks;
// generous, because tests share two cores with other packages' sandboxes.
const settle = 5 * time.Second

func healthy(s *topology.Server) bool {
	return s.Reachable && (s.Name == "db1" || s.IOThread && s.SQLThread && s.LagEligible && s.LagMs >= 0 && s.LagMs < 300)
}

func exec1(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestMonitorPublishesObservations(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 2, nil)
	for _, n := range c.sb.Nodes {
		s := c.waitFor(t, n.Name, 10*time.Second, "healthy", healthy)
		if s.ServerID != n.ServerID {
			t.Errorf("%s: server_id %d, want %d", n.Name, s.ServerID, n.ServerID)
		}
		if s.Flavor != topology.FlavorMariaDB || !strings.Contains(s.Version, "MariaDB") {
			t.Errorf("%s: flavor %v version %q, want MariaDB", n.Name, s.Flavor, s.Version)
		}
		primary := n.Name == "db1"
		wantRole := topology.RoleReplica
		if primary {
			wantRole = topology.RolePrimary
		}
		if s.Role != wantRole {
			t.Errorf("%s: role %v changed by the monitor, want %v", n.Name, s.Role, wantRole)
		}
		if s.ReadOnly == primary || s.IsReplica == primary {
			t.Errorf("%s: read_only=%v is_replica=%v on a primary=%v", n.Name, s.ReadOnly, s.IsReplica, primary)
		}
		if !primary && s.SourceAddr != c.sb.Node("db1").Addr {
			t.Errorf("%s: source %q, want %q", n.Name, s.SourceAddr, c.sb.Node("db1").Addr)
		}
		if s.FailedChecks != 0 || s.LastError != "" {
			t.Errorf("%s: failed=%d err=%q on a healthy server", n.Name, s.FailedChecks, s.LastError)
		}
	}
	// A foreign, malformed heartbeat row is ignored.
	exec1(t, c.sb.DB(t, "db1"), "INSERT INTO switchyard.heartbeat (ts, server_id) VALUES ('garbage', 999)")
	for _, n := range c.sb.Nodes[1:] {
		c.waitFor(t, n.Name, settle, "healthy despite a malformed heartbeat row", healthy)
	}
	if p := c.view.Load().Server("db1"); p.LagMs != 0 || !p.LagEligible {
		t.Errorf("primary lag %d eligible %v, want 0 true", p.LagMs, p.LagEligible)
	}

	// A write on the primary advances its position, and the replicas'
	// applied positions come to cover it.
	before := c.view.Load().Server("db1").GTID
	primary := c.sb.DB(t, "db1")
	exec1(t, primary, "CREATE TABLE switchyard.t (id int PRIMARY KEY)")
	exec1(t, primary, "INSERT INTO switchyard.t VALUES (1)")
	var pos string
	if err := primary.QueryRow("SELECT @@gtid_binlog_pos").Scan(&pos); err != nil {
		t.Fatal(err)
	}
	written, err := gtid.ParseMariaDB(pos)
	if err != nil {
		t.Fatal(err)
	}
	p := c.waitFor(t, "db1", settle, "at the written position", func(s *topology.Server) bool {
		return s.GTID.Contains(written) && s.GTIDBinlog.Contains(written)
	})
	if p.GTID.Equal(before) {
		t.Errorf("primary position %s did not advance", p.GTID)
	}
	for _, name := range []string{"db2", "db3"} {
		c.waitFor(t, name, settle, "covering "+pos, func(s *topology.Server) bool { return s.GTID.Contains(written) })
	}

	t.Run("pt-heartbeat reads the heartbeat", func(t *testing.T) {
		if _, err := exec.LookPath("pt-heartbeat"); err != nil {
			t.Skip("pt-heartbeat not installed")
		}
		out, err := exec.Command("pt-heartbeat", "--check", "--utc", "-D", "switchyard", "--table", "heartbeat",
			"--master-server-id", strconv.Itoa(int(c.sb.Node("db1").ServerID)),
			"-h127.0.0.1", "-P"+strconv.Itoa(c.sb.Node("db2").Port), "-u", sandbox.AppUser, "-p"+sandbox.AppPassword).CombinedOutput()
		if err != nil {
			t.Fatalf("pt-heartbeat: %v: %s", err, out)
		}
		lag, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
		if err != nil {
			t.Fatalf("pt-heartbeat printed %q, want a number of seconds", out)
		}
		if lag < 0 || lag > 2 {
			t.Errorf("pt-heartbeat reports %.2fs of lag on a healthy replica", lag)
		}
	})

	t.Run("no heartbeat on a read_only primary", func(t *testing.T) {
		// The monitor user may write despite read_only (READ_ONLY ADMIN):
		// the writer must not create errant transactions on a demoted primary.
		exec1(t, primary, "SET GLOBAL read_only = 1")
		c.waitFor(t, "db1", settle, "read_only", func(s *topology.Server) bool { return s.ReadOnly })
		var before, after string
		if err := primary.QueryRow("SELECT @@gtid_binlog_pos").Scan(&before); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * c.cfg.Health.HeartbeatInterval.D())
		if err := primary.QueryRow("SELECT @@gtid_binlog_pos").Scan(&after); err != nil {
			t.Fatal(err)
		}
		if before != after {
			t.Errorf("binlog moved from %s to %s on a read_only primary", before, after)
		}
		exec1(t, primary, "SET GLOBAL read_only = 0")
		c.waitFor(t, "db1", settle, "writable", func(s *topology.Server) bool { return !s.ReadOnly })
		// Heartbeats resume, so replicas stay measurable.
		c.waitFor(t, "db2", settle, "healthy", healthy)
	})
}

// TestReplicaLag covers the ways a replica falls behind or stops, each on
// its own replica of one topology.
func TestReplicaLag(t *testing.T) {
	t.Parallel()
	const maxLag = 500 * time.Millisecond
	c := startCluster(t, 3, func(cfg *config.Config) {
		cfg.Routing.MaxReplicaLag = config.Duration(maxLag)
		cfg.Routing.LagHysteresis = config.Duration(maxLag / 5)
	})
	for _, n := range c.sb.Nodes {
		c.waitFor(t, n.Name, 10*time.Second, "healthy", healthy)
	}
	// Writes keep flowing on the primary besides the heartbeat.
	primary := c.sb.DB(t, "db1")
	exec1(t, primary, "CREATE TABLE switchyard.w (id int AUTO_INCREMENT PRIMARY KEY)")
	ctx, cancel := context.WithCancel(context.Background())
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for ctx.Err() == nil {
			primary.ExecContext(ctx, "INSERT INTO switchyard.w VALUES ()")
			time.Sleep(20 * time.Millisecond)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-writerDone
	})

	t.Run("stopped SQL thread", func(t *testing.T) {
		t.Parallel()
		db := c.sb.DB(t, "db2")
		before := *c.view.Load().Server("db2")
		exec1(t, db, "STOP SLAVE SQL_THREAD")
		// Seconds_Behind_Master is NULL now: only the heartbeat can tell,
		// and the lag it reports grows with time.
		// Under load db2 may already lag before the stop takes effect, so
		// wait for an observation made after it.
		s := c.waitFor(t, "db2", maxLag+5*time.Second, "out of the read pool", func(s *topology.Server) bool { return s.Reachable && !s.LagEligible && !s.SQLThread })
		if s.LagMs <= maxLag.Milliseconds() || s.SQLThread || !s.IOThread {
			t.Errorf("db2 left the pool with lag %d ms sql=%v io=%v, want > %v, sql stopped, io running", s.LagMs, s.SQLThread, s.IOThread, maxLag)
		}
		grown := c.waitFor(t, "db2", settle, "lagging more", func(n *topology.Server) bool { return n.LagMs > s.LagMs+200 })
		// It grows with time, not faster: at most the lag last published
		// before the stop plus the time since, within the precision
		// (a heartbeat interval and a round trip on a loaded machine).
		if bound := before.LagMs + time.Since(before.CheckedAt).Milliseconds() + 500; grown.LagMs > bound {
			t.Errorf("lag %d ms exceeds %d ms: %d ms before the stop plus the time since", grown.LagMs, bound, before.LagMs)
		}
		exec1(t, db, "START SLAVE SQL_THREAD")
		c.waitFor(t, "db2", settle, "back in the read pool", healthy)
	})

	t.Run("MASTER_DELAY", func(t *testing.T) {
		t.Parallel()
		db := c.sb.DB(t, "db3")
		exec1(t, db, "STOP SLAVE")
		// MASTER_DELAY counts from binlog timestamps, which have whole
		// seconds: a 3 s delay keeps the applied heartbeat 2-3 s behind.
		exec1(t, db, "CHANGE MASTER TO MASTER_DELAY = 3")
		exec1(t, db, "START SLAVE")
		t.Cleanup(func() {
			db.Exec("STOP SLAVE")
			db.Exec("CHANGE MASTER TO MASTER_DELAY = 0")
			db.Exec("START SLAVE")
		})
		s := c.waitFor(t, "db3", 8*time.Second, "delayed past the limit", func(s *topology.Server) bool {
			return !s.LagEligible && s.LagMs > 1500
		})
		if s.LagMs > 6000 {
			t.Errorf("db3 lag %d ms with a 3 s delay", s.LagMs)
		}
		exec1(t, db, "STOP SLAVE")
		exec1(t, db, "CHANGE MASTER TO MASTER_DELAY = 0")
		exec1(t, db, "START SLAVE")
		c.waitFor(t, "db3", settle, "back in the read pool", healthy)
	})

	t.Run("STOP SLAVE", func(t *testing.T) {
		t.Parallel()
		db := c.sb.DB(t, "db4")
		exec1(t, db, "STOP SLAVE")
		s := c.waitFor(t, "db4", settle, "broken", func(s *topology.Server) bool { return !s.IOThread && !s.SQLThread })
		if s.LagMs != -1 || s.LagEligible || !s.Reachable {
			t.Errorf("stopped replica: lag %d eligible %v reachable %v, want -1 false true", s.LagMs, s.LagEligible, s.Reachable)
		}
		exec1(t, db, "START SLAVE")
		c.waitFor(t, "db4", settle, "back in the read pool", healthy)
	})
}

func TestServerFailures(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 2, nil)
	for _, n := range c.sb.Nodes {
		// A GTID position exists once the first heartbeat has replicated.
		c.waitFor(t, n.Name, 10*time.Second, "healthy with a position", func(s *topology.Server) bool { return healthy(s) && !s.GTID.IsZero() })
	}
	if err := c.mon.CheckNow(context.Background(), "db2"); err != nil {
		t.Errorf("CheckNow(db2) on a healthy replica: %v", err)
	}
	if err := c.mon.CheckNow(context.Background(), "nope"); err == nil {
		t.Error("CheckNow on an unknown server succeeded")
	}

	t.Run("replica killed and restarted", func(t *testing.T) {
		if err := c.sb.Kill("db3"); err != nil {
			t.Fatal(err)
		}
		s := c.waitFor(t, "db3", settle, "failing repeatedly", func(s *topology.Server) bool { return !s.Reachable && s.FailedChecks >= 3 })
		if s.LastError == "" || s.LagMs != -1 || s.LagEligible {
			t.Errorf("dead replica: err=%q lag=%d eligible=%v, want an error, -1, false", s.LastError, s.LagMs, s.LagEligible)
		}
		if s.GTID.IsZero() || s.ServerID == 0 {
			t.Errorf("dead replica lost its last known position %q / server_id %d", s.GTID, s.ServerID)
		}
		// CheckNow reports the failure and publishes it before returning.
		if err := c.mon.CheckNow(context.Background(), "db3"); err == nil || !strings.Contains(err.Error(), "db3") {
			t.Errorf("CheckNow(db3) on a dead server: %v, want an error naming db3", err)
		}
		if now := c.view.Load().Server("db3"); now.FailedChecks <= s.FailedChecks {
			t.Errorf("CheckNow did not publish: failed checks %d, was %d", now.FailedChecks, s.FailedChecks)
		}
		if err := c.sb.Start("db3"); err != nil {
			t.Fatal(err)
		}
		s = c.waitFor(t, "db3", 10*time.Second, "healthy again", healthy)
		if s.FailedChecks != 0 || s.LastError != "" {
			t.Errorf("recovered replica: failed=%d err=%q", s.FailedChecks, s.LastError)
		}
	})

	t.Run("primary killed", func(t *testing.T) {
		if err := c.sb.Kill("db1"); err != nil {
			t.Fatal(err)
		}
		c.waitFor(t, "db1", settle, "unreachable", func(s *topology.Server) bool { return !s.Reachable && s.LastError != "" })
		for _, name := range []string{"db2", "db3"} {
			s := c.waitFor(t, name, 8*time.Second, "without a running IO thread, caught up", func(s *topology.Server) bool { return !s.IOThread && s.LagEligible })
			// No heartbeat newer than the replica's can exist: it keeps
			// serving reads while failover decides.
			if !s.Reachable || s.LagMs != 0 || !s.LagEligible {
				t.Errorf("%s with a dead primary: reachable=%v lag=%d eligible=%v, want true 0 true", name, s.Reachable, s.LagMs, s.LagEligible)
			}
		}
		snap := c.view.Load()
		if snap.Primary != "db1" || snap.Server("db1").Role != topology.RolePrimary {
			t.Errorf("the monitor changed the primary to %q (role %v): that is failover's decision", snap.Primary, snap.Server("db1").Role)
		}
	})
}

func TestReloadAndDiscovery(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 2, nil)
	for _, n := range c.sb.Nodes {
		c.waitFor(t, n.Name, 10*time.Second, "healthy", healthy)
	}
	without := func(name string) *config.Config {
		cfg := *c.cfg
		cfg.Servers = nil
		for _, s := range c.cfg.Servers {
			if s.Name != name {
				cfg.Servers = append(cfg.Servers, s)
			}
		}
		return &cfg
	}

	c.mon.Reload(without("db3"))
	if s := c.view.Load().Server("db3"); s != nil {
		t.Errorf("db3 still in the view after it left the config: %+v", s)
	}
	c.mon.Reload(without("db1"))
	if c.view.Load().Server("db1") == nil {
		t.Fatal("Reload removed the current primary from the view")
	}
	c.mon.Reload(c.cfg)
	s := c.waitFor(t, "db3", settle, "monitored again", func(s *topology.Server) bool { return s.Reachable && s.IOThread })
	if s.Role != topology.RoleUnknown {
		t.Errorf("re-added db3 has role %v: roles are failover's to set", s.Role)
	}

	// New monitor credentials reopen the connections.
	bad := *c.cfg
	bad.Monitor.Password = "wrong"
	c.mon.Reload(&bad)
	s = c.waitFor(t, "db2", settle, "refused", func(s *topology.Server) bool { return !s.Reachable })
	if !strings.Contains(s.LastError, "Access denied") {
		t.Errorf("wrong password: error %q, want access denied", s.LastError)
	}
	if strings.Contains(s.LastError, "wrong") {
		t.Errorf("the error shows the password: %q", s.LastError)
	}
	c.mon.Reload(c.cfg)
	c.waitFor(t, "db2", settle, "healthy", healthy)

	// Discovery: a server nobody listens on is added unreachable and removed.
	dead := config.Server{Name: "db9", Address: "127.0.0.1:1", Datacenter: "dc1", Promotion: "never", Weight: 100}
	c.mon.AddServer(dead)
	s = c.waitFor(t, "db9", settle, "failing", func(s *topology.Server) bool { return s.FailedChecks >= 2 })
	if s.Reachable || s.LagMs != -1 || s.Addr != dead.Address || s.Promotion != "never" {
		t.Errorf("db9: reachable=%v lag=%d addr=%q promotion=%q", s.Reachable, s.LagMs, s.Addr, s.Promotion)
	}
	c.mon.RemoveServer("db9")
	if c.view.Load().Server("db9") != nil {
		t.Error("db9 still in the view after RemoveServer")
	}
}

// TestExternalHeartbeat runs with Switchyard's writer off and pt-heartbeat
// writing instead, on a semi-synchronous topology.
func TestExternalHeartbeat(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("pt-heartbeat"); err != nil {
		t.Skip("pt-heartbeat not installed")
	}
	const maxLag = 500 * time.Millisecond
	sb := sandboxtest.New(t, sandboxtest.Replicas(1), sandboxtest.SemiSync())
	c := startClusterOn(t, sb, func(cfg *config.Config) {
		cfg.Health.Heartbeat = false
		cfg.Routing.MaxReplicaLag = config.Duration(maxLag)
		cfg.Routing.LagHysteresis = config.Duration(maxLag / 5)
	})
	// Without any heartbeat, lag comes from Seconds_Behind_Master.
	c.waitFor(t, "db2", 10*time.Second, "healthy", healthy)
	p := c.waitFor(t, "db1", settle, "a semi-sync source", func(s *topology.Server) bool { return s.SemiSyncSource })
	if p.SemiSyncReplica {
		t.Error("db1 reported as a semi-sync replica")
	}
	c.waitFor(t, "db2", settle, "a semi-sync replica", func(s *topology.Server) bool { return s.SemiSyncReplica })
	primary := sb.DB(t, "db1")
	var tables int
	if err := primary.QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'switchyard'").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("%d tables in switchyard with health.heartbeat off, want none", tables)
	}

	pt := exec.Command("pt-heartbeat", "--update", "--create-table", "--utc", "--interval", "0.1",
		"-D", "switchyard", "--table", "heartbeat",
		"-h127.0.0.1", "-P"+strconv.Itoa(sb.Node("db1").Port), "-u", sandbox.AppUser, "-p"+sandbox.AppPassword)
	pt.Stdout, pt.Stderr = t.Output(), t.Output()
	if err := pt.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pt.Process.Kill()
		pt.Wait()
	})
	// pt-heartbeat starts on the next whole second; wait until the replica
	// holds the primary's heartbeats.
	c.waitHeartbeats(t)
	db := sb.DB(t, "db2")

	// Seconds_Behind_Master goes NULL with the SQL thread stopped: only
	// pt-heartbeat's timestamps, read through the monitors, measure lag.
	exec1(t, db, "STOP SLAVE SQL_THREAD")
	// A check that times out under load also takes db2 out (lag -1): only a
	// reachable replica shows the heartbeat lag this test is about.
	s := c.waitFor(t, "db2", maxLag+5*time.Second, "out of the read pool by lag", func(s *topology.Server) bool { return s.Reachable && !s.LagEligible })
	if s.LagMs <= maxLag.Milliseconds() {
		t.Errorf("db2 left the pool with lag %d ms, want > %v", s.LagMs, maxLag)
	}
	exec1(t, db, "START SLAVE SQL_THREAD")
	c.waitFor(t, "db2", settle, "back in the read pool", healthy)
}

// TestConfiguredServerState: servers[].state sets the operator state at
// startup and when a reload changes it; a reload that leaves it alone keeps
// what SET SERVER set at runtime.
func TestConfiguredServerState(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 1, func(cfg *config.Config) { cfg.Servers[1].State = "offline" })
	admin := func() topology.AdminState { return c.view.Load().Server("db2").Admin }
	if a := admin(); a != topology.AdminOffline {
		t.Fatalf("db2 starts %v, want offline from the config", a)
	}
	c.view.UpdateServer("db2", func(s *topology.Server) { s.Admin = topology.AdminOnline }) // SET SERVER 'db2' ONLINE
	c.mon.Reload(c.cfg)
	if a := admin(); a != topology.AdminOnline {
		t.Errorf("reload of an unchanged config: db2 %v, want the runtime state (online)", a)
	}
	cfg := *c.cfg
	cfg.Servers = append([]config.Server(nil), c.cfg.Servers...)
	cfg.Servers[1].State = "drain"
	c.mon.Reload(&cfg)
	if a := admin(); a != topology.AdminDrain {
		t.Errorf("reload with state: drain: db2 %v", a)
	}
}
