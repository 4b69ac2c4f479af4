package docker_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/app"
	"github.com/switchyard/switchyard/app/apptest"
	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/docker"
	"github.com/switchyard/switchyard/failover"
	"github.com/switchyard/switchyard/sandbox"
	"github.com/switchyard/switchyard/topology"
)

// stack is the real application (app.App) for a config with
// docker.enabled, as `switchyard serve` runs it: proxy, health, failover,
// admin, metrics and Docker discovery and fencing.
type stack struct {
	app  *app.App
	view *topology.View
	// failover is the application's failover manager.
	failover *failover.Manager
	addr     string
}

func startStack(t *testing.T, cfg *config.Config) *stack {
	t.Helper()
	a := apptest.Start(t, cfg, slog.LevelInfo)
	return &stack{app: a, view: a.View(), failover: a.Failover, addr: a.AppAddr()}
}

// waitPrimary waits until writes are open on a primary accepted by ok.
func (s *stack) waitPrimary(t *testing.T, within time.Duration, ok func(string) bool) string {
	t.Helper()
	var primary string
	docker.Eventually(t, within, "writable primary", func() error {
		snap := s.view.Load()
		if snap.Primary == "" || snap.Gate != topology.WritesOpen || !ok(snap.Primary) {
			return fmt.Errorf("primary %q gate %s (%s), failover state %q", snap.Primary, snap.Gate, snap.Reason, s.failover.State())
		}
		primary = snap.Primary
		return nil
	})
	return primary
}

func (s *stack) lastEvent(t *testing.T) failover.Event {
	t.Helper()
	evs := s.failover.Events()
	if len(evs) == 0 {
		t.Fatal("no failover event")
	}
	return evs[len(evs)-1]
}

func (s *stack) db(t *testing.T) *sql.DB {
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr = sandbox.AppUser, sandbox.AppPassword, "tcp", s.addr
	c.Timeout, c.ReadTimeout, c.WriteTimeout = 5*time.Second, 30*time.Second, 30*time.Second
	return docker.OpenDB(t, c.FormatDSN())
}

// writeLoad runs writers through the proxy until stop is closed and
// reports every failed statement with the time it was sent.
type writeLoad struct {
	ok     atomic.Int64
	mu     sync.Mutex
	failed []failedWrite
	wg     sync.WaitGroup
}

type failedWrite struct {
	sent time.Time
	err  error
}

func startWrites(t *testing.T, db *sql.DB, writers int, stop <-chan struct{}) *writeLoad {
	l := &writeLoad{}
	for w := range writers {
		l.wg.Go(func() {
			conn, err := db.Conn(context.Background())
			if err != nil {
				l.fail(time.Now(), err)
				return
			}
			defer conn.Close()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				sent := time.Now()
				if _, err := conn.ExecContext(context.Background(), "INSERT INTO e2e.t (w, n) VALUES (?, ?)", w, n); err != nil {
					l.fail(sent, err)
					// A broken client connection is replaced, as an application would.
					conn.Close()
					if conn, err = db.Conn(context.Background()); err != nil {
						l.fail(time.Now(), err)
						return
					}
					continue
				}
				l.ok.Add(1)
			}
		})
	}
	return l
}

func (l *writeLoad) fail(sent time.Time, err error) {
	l.mu.Lock()
	l.failed = append(l.failed, failedWrite{sent, err})
	l.mu.Unlock()
}

// TestFailoverOnDocker runs the application (app.App, as `switchyard serve`
// does for a config with docker.enabled and no static servers): it discovers
// a container sandbox, sees a
// primary that only the proxy cannot reach as partitioned (no promotion),
// fails over with no client error when the primary container is killed
// under load, and stops the container of a primary that is cut off but
// still running, so a healed partition brings back no second writer.
func TestFailoverOnDocker(t *testing.T) {
	cli := docker.RequireEngine(t)
	t.Parallel()
	ctx := context.Background()
	cluster := docker.UniqueCluster("e2e")
	// Replication over a second network: the replicas reach db1 there, the
	// proxy only over the sandbox network. Created first, so that it is
	// removed after the sandbox's containers.
	repl := docker.UniqueCluster("e2e-repl")
	nw, err := cli.NetworkCreate(ctx, repl, network.CreateOptions{Driver: "bridge", Labels: map[string]string{docker.LabelCluster: cluster}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cli.NetworkRemove(context.Background(), nw.ID); err != nil {
			t.Errorf("remove network %s: %v", repl, err)
		}
		docker.AssertNothingLeft(t, cli, cluster)
	})
	sb := docker.UpSandbox(t, cluster)
	cfg := sb.Config()
	cfg.TLS.Client.Enabled = false
	cfg.Failover.AntiFlap = config.Duration(time.Second) // two failovers in one test
	// Several sandboxes initialise in parallel on two cores: with the default
	// 200ms a check of a healthy replica can time out, and replicas that all
	// look unreachable confirm a primary dead that only the proxy lost.
	cfg.Health.Timeout = config.Duration(time.Second)
	for _, n := range sb.Nodes {
		if err := cli.NetworkConnect(ctx, nw.ID, n.ContainerID, nil); err != nil {
			t.Fatal(err)
		}
	}
	db1ReplIP := containerIP(t, cli, sb.Node("db1").ContainerID, repl)
	for _, name := range []string{"db2", "db3"} {
		root := docker.OpenDB(t, sb.DSN(name, "root", docker.RootPassword))
		for _, q := range []string{"STOP SLAVE", "CHANGE MASTER TO MASTER_HOST='" + db1ReplIP + "'", "START SLAVE"} {
			if _, err := root.Exec(q); err != nil {
				t.Fatalf("%s: %s: %v", name, q, err)
			}
		}
	}

	st := startStack(t, cfg)
	st.waitPrimary(t, 30*time.Second, func(p string) bool { return p == "db1" })
	appDB := st.db(t)
	for _, q := range []string{"CREATE DATABASE e2e", "CREATE TABLE e2e.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, w INT, n INT)"} {
		if _, err := appDB.Exec(q); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("container started later joins the read pool", func(t *testing.T) {
		ip := net.ParseIP(sb.Node("db1").IP).To4()
		n := &docker.SandboxNode{Name: "db4", ServerID: 4, IP: net.IPv4(ip[0], ip[1], ip[2], ip[3]+3).String()}
		if err := sb.AddNode(ctx, n); err != nil {
			t.Fatal(err)
		}
		docker.Eventually(t, 20*time.Second, "db4 readable replica", func() error {
			s := st.view.Load().Server("db4")
			if s == nil || s.Role != topology.RoleReplica || !s.Readable() || !s.LagEligible || s.Addr != n.Addr {
				return fmt.Errorf("db4: %+v", s)
			}
			return nil
		})
		// The admin port of the running application lists it too.
		c := mysql.NewConfig()
		c.User, c.Passwd, c.Net, c.Addr = sandbox.AdminUser, sandbox.AdminPassword, "tcp", st.app.AdminAddr()
		rows, err := docker.OpenDB(t, c.FormatDSN()).Query("SHOW SERVERS")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var names []string
		for rows.Next() {
			vals := make([]sql.RawBytes, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			names = append(names, string(vals[0]))
		}
		sort.Strings(names)
		if got := strings.Join(names, ","); got != "db1,db2,db3,db4" {
			t.Errorf("admin SHOW SERVERS lists %q, want db1,db2,db3,db4", got)
		}
	})

	t.Run("proxy cut off from primary: no promotion", func(t *testing.T) {
		db1 := sb.Node("db1")
		if err := cli.NetworkDisconnect(ctx, sb.Network, db1.ContainerID, true); err != nil {
			t.Fatal(err)
		}
		docker.Eventually(t, 20*time.Second, "partition recognised", func() error {
			if s := st.failover.State(); !strings.HasPrefix(s, failover.StatePartitioned) {
				return fmt.Errorf("failover state %q", s)
			}
			return nil
		})
		time.Sleep(3 * time.Second) // the replicas keep vouching for db1
		if snap := st.view.Load(); snap.Primary != "db1" {
			t.Fatalf("primary changed to %q while db1 was only cut off from the proxy", snap.Primary)
		}
		for _, ev := range st.failover.Events() {
			if ev.Result == failover.ResultSuccess {
				t.Fatalf("promotion during a proxy-only partition: %+v", ev)
			}
		}
		err := cli.NetworkConnect(ctx, sb.Network, db1.ContainerID,
			&network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: db1.IP}, Aliases: []string{"db1"}})
		if err != nil {
			t.Fatal(err)
		}
		st.waitPrimary(t, 20*time.Second, func(p string) bool { return p == "db1" })
	})

	t.Run("docker kill of the primary under load", func(t *testing.T) {
		stop := make(chan struct{})
		load := startWrites(t, appDB, 4, stop)
		time.Sleep(time.Second)
		// docker kill is asynchronous: statements sent while it is on its
		// way may reach the still-running server and be cut off mid-query
		// (their outcome is unknown, so the proxy must not retry them). The
		// kill is complete when the engine reports the container stopped.
		killStart := time.Now()
		if err := sb.Kill("db1"); err != nil {
			t.Fatal(err)
		}
		killedAt := time.Now()
		primary := st.waitPrimary(t, 30*time.Second, func(p string) bool { return p != "db1" })
		time.Sleep(time.Second) // writes keep flowing on the new primary
		close(stop)
		load.wg.Wait()
		var inFlight int
		for _, f := range load.failed {
			if f.sent.After(killedAt) {
				t.Errorf("statement sent %s after the kill failed: %v", f.sent.Sub(killedAt).Round(time.Millisecond), f.err)
			} else {
				inFlight++
			}
		}
		ev := st.lastEvent(t)
		if ev.Result != failover.ResultSuccess || ev.OldPrimary != "db1" || ev.NewPrimary != primary {
			t.Fatalf("event %+v", ev)
		}
		var resumed time.Time
		for _, p := range ev.Phases {
			if p.Name == failover.PhaseWritesResumed {
				resumed = p.At
			}
		}
		t.Logf("failover to %s: writes resumed %s after the docker kill call (the engine took %s to report the container stopped); %d writes ok, %d in flight at the kill failed",
			primary, resumed.Sub(killStart).Round(time.Millisecond), killedAt.Sub(killStart).Round(time.Millisecond), load.ok.Load(), inFlight)
		docker.Eventually(t, 15*time.Second, "fencing recorded", func() error {
			// "ok" or "already exited", depending on whether the engine
			// had finished the kill when fencing looked.
			if f := st.lastEvent(t).Fence; !strings.Contains(f, "docker stop db1 (container "+docker.ShortID(sb.Node("db1").ContainerID)+"): ") {
				return fmt.Errorf("fence %q", f)
			}
			return nil
		})
		// Discovery lost db1 while it was still the primary; once failover
		// is done the application drops it.
		docker.Eventually(t, 15*time.Second, "former primary db1 removed", func() error {
			if s := st.view.Load().Server("db1"); s != nil {
				return fmt.Errorf("db1 still in the view: %+v (failover state %q)", s, st.failover.State())
			}
			return nil
		})
	})

	t.Run("cut-off running primary is stopped", func(t *testing.T) {
		old := st.view.Load().Primary
		n := sb.Node(old)
		time.Sleep(1500 * time.Millisecond) // past anti_flap
		for _, nwName := range []string{sb.Network, repl} {
			if err := cli.NetworkDisconnect(ctx, nwName, n.ContainerID, true); err != nil {
				t.Fatal(err)
			}
		}
		st.waitPrimary(t, 30*time.Second, func(p string) bool { return p != old && p != "db1" })
		docker.Eventually(t, 30*time.Second, old+" container stopped by fencing", func() error {
			info, err := cli.ContainerInspect(ctx, n.ContainerID)
			if err != nil {
				return err
			}
			if info.State.Status != container.StateExited {
				return fmt.Errorf("state %s; fence %q", info.State.Status, st.lastEvent(t).Fence)
			}
			return nil
		})
		want := fmt.Sprintf("docker stop %s (container %s): ok", old, docker.ShortID(n.ContainerID))
		docker.Eventually(t, 15*time.Second, "fencing recorded", func() error {
			if f := st.lastEvent(t).Fence; !strings.Contains(f, want) {
				return fmt.Errorf("event fence %q, want it to contain %q", f, want)
			}
			return nil
		})
		// The partition heals: the stopped container cannot write.
		if err := cli.NetworkConnect(ctx, sb.Network, n.ContainerID, nil); err != nil {
			t.Fatal(err)
		}
		if info, err := cli.ContainerInspect(ctx, n.ContainerID); err != nil || info.State.Running {
			t.Fatalf("fenced container running again: %v", err)
		}
	})
}

func containerIP(t *testing.T, cli *client.Client, id, networkName string) string {
	t.Helper()
	info, err := cli.ContainerInspect(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	ep := info.NetworkSettings.Networks[networkName]
	if ep == nil || ep.IPAddress == "" {
		t.Fatalf("container %s has no address on %s", docker.ShortID(id), networkName)
	}
	return ep.IPAddress
}
