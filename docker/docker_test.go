package docker

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	_ "github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/sandbox"
	"github.com/switchyard/switchyard/topology"
)

// engineErr is why the Docker tests skip; set by TestMain.
var engineErr error

// TestMain builds the local image once (cached across runs by content
// hash). Without an answering engine every Docker test skips loudly; a
// failing image build fails them.
func TestMain(m *testing.M) {
	var buildErr error
	cli, err := NewClient("")
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = cli.Ping(ctx)
		cancel()
	}
	if err != nil {
		engineErr = err
		fmt.Fprintf(os.Stderr, "\n!!!!!!!!\n!!! NO DOCKER ENGINE ANSWERS (%v): Docker integration tests are SKIPPED\n!!!!!!!!\n\n", err)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		start := time.Now()
		_, buildErr = EnsureImage(ctx, cli, DefaultImage)
		cancel()
		fmt.Fprintf(os.Stderr, "image %s ready in %s\n", DefaultImage, time.Since(start).Round(time.Millisecond))
		cli.Close()
	}
	if buildErr != nil {
		fmt.Fprintln(os.Stderr, "building the local MariaDB image failed:", buildErr)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func requireEngine(t *testing.T) *client.Client {
	t.Helper()
	if engineErr != nil {
		t.Skipf("!!! NO DOCKER ENGINE ANSWERS: %v — Docker integration test SKIPPED", engineErr)
	}
	cli, err := NewClient("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func uniqueCluster(prefix string) string {
	return fmt.Sprintf("sytest-%s-%06x", prefix, rand.Uint32()&0xffffff)
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// upSandbox starts a container sandbox torn down by t.Cleanup.
func upSandbox(t *testing.T, cluster string) *Sandbox {
	t.Helper()
	start := time.Now()
	sb, err := SandboxUp(context.Background(), SandboxOptions{Dir: t.TempDir() + "/sb", Cluster: cluster, Replicas: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("container sandbox %s up in %s", cluster, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := sb.Down(); err != nil {
			t.Errorf("down: %v", err)
		}
	})
	return sb
}

func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// eventually polls f until it returns nil or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSandboxLifecycle runs one container sandbox through discovery, health
// monitoring, replication, kill/start and down.
func TestSandboxLifecycle(t *testing.T) {
	cli := requireEngine(t)
	t.Parallel()
	cluster := uniqueCluster("life")
	sb := upSandbox(t, cluster)
	cfg := sb.Config()

	disc, err := NewDiscovery(cfg.Docker, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer disc.Close()
	ctx := context.Background()

	t.Run("discovery", func(t *testing.T) {
		servers, err := disc.Servers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(servers) != 3 {
			t.Fatalf("discovered %d servers, want 3: %+v", len(servers), servers)
		}
		for i, s := range servers {
			n := sb.Nodes[i]
			want := config.Server{Name: n.Name, Address: n.Addr, Datacenter: "dc1", Promotion: "neutral", Weight: 100}
			if s != want {
				t.Errorf("server %d = %+v, want %+v", i, s, want)
			}
			if !strings.HasPrefix(n.Addr, "10.213.") {
				t.Errorf("%s at %s: want a fixed address in the sandbox's 10.213.x.0/24", n.Name, n.Addr)
			}
		}
	})

	t.Run("health sees the topology", func(t *testing.T) {
		servers, err := disc.Servers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		hcfg := *cfg
		hcfg.Servers = servers
		var initial []topology.Server
		for _, s := range servers {
			initial = append(initial, health.ServerFromConfig(s))
		}
		view := topology.NewView(initial)
		mon := health.New(&hcfg, view, testLogger(t))
		mctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { mon.Run(mctx); close(done) }()
		defer func() { cancel(); <-done }()
		eventually(t, 20*time.Second, "db1 writable, db2/db3 replicating from db1", func() error {
			snap := view.Load()
			db1 := snap.Server("db1")
			if db1 == nil || !db1.Reachable || db1.ReadOnly || db1.IsReplica {
				return fmt.Errorf("db1: %+v", db1)
			}
			for _, name := range []string{"db2", "db3"} {
				r := snap.Server(name)
				if r == nil || !r.Reachable || !r.ReadOnly || !r.IOThread || !r.SQLThread || r.SourceAddr != db1.Addr {
					return fmt.Errorf("%s: %+v", name, r)
				}
			}
			return nil
		})
	})

	t.Run("replication", func(t *testing.T) {
		db1 := openDB(t, sb.DSN("db1", sandbox.AppUser, sandbox.AppPassword))
		db3 := openDB(t, sb.DSN("db3", sandbox.AppUser, sandbox.AppPassword))
		if _, err := db1.Exec("CREATE TABLE switchyard.repl_probe (id INT PRIMARY KEY)"); err != nil {
			t.Fatal(err)
		}
		if _, err := db1.Exec("INSERT INTO switchyard.repl_probe VALUES (42)"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "row replicated to db3", func() error {
			var id int
			return db3.QueryRow("SELECT id FROM switchyard.repl_probe").Scan(&id)
		})
	})

	t.Run("kill and start", func(t *testing.T) {
		if err := sb.Kill("db2"); err != nil {
			t.Fatal(err)
		}
		servers, err := disc.Servers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range servers {
			if s.Name == "db2" {
				t.Fatalf("killed db2 still discovered: %+v", servers)
			}
		}
		db1 := openDB(t, sb.DSN("db1", sandbox.AppUser, sandbox.AppPassword))
		if _, err := db1.Exec("INSERT INTO switchyard.repl_probe VALUES (43)"); err != nil {
			t.Fatal(err)
		}
		addr := sb.Node("db2").Addr
		if err := sb.Start("db2"); err != nil {
			t.Fatal(err)
		}
		if got := sb.Node("db2").Addr; got != addr {
			t.Errorf("db2 moved from %s to %s after restart", addr, got)
		}
		db2 := openDB(t, sb.DSN("db2", sandbox.AppUser, sandbox.AppPassword))
		eventually(t, 15*time.Second, "db2 caught up after restart", func() error {
			var n int
			if err := db2.QueryRow("SELECT COUNT(*) FROM switchyard.repl_probe").Scan(&n); err != nil {
				return err
			}
			if n != 2 {
				return fmt.Errorf("%d rows", n)
			}
			return nil
		})
	})

	t.Run("open and down", func(t *testing.T) {
		again, err := OpenSandbox(sb.Dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := SandboxUp(ctx, SandboxOptions{Dir: sb.Dir, Cluster: cluster + "x"}); err == nil {
			t.Fatal("SandboxUp on a directory holding a sandbox succeeded")
		}
		if err := again.Down(); err != nil {
			t.Fatal(err)
		}
		assertNothingLeft(t, cli, cluster)
		if _, err := os.Stat(sb.Dir); !os.IsNotExist(err) {
			t.Errorf("sandbox dir still exists: %v", err)
		}
	})
}

// assertNothingLeft checks that no container, volume or network carries the
// cluster's label.
func assertNothingLeft(t *testing.T, cli *client.Client, cluster string) {
	t.Helper()
	ctx := context.Background()
	f := filters.NewArgs(filters.Arg("label", LabelCluster+"="+cluster))
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs)+len(ns)+len(vs.Volumes) > 0 {
		t.Errorf("left behind: %d containers, %d networks, %d volumes", len(cs), len(ns), len(vs.Volumes))
	}
}

// bareCluster is a labelled network for containers that need not run a
// replication topology (watch and fence tests).
type bareCluster struct {
	t       *testing.T
	cli     *client.Client
	name    string
	network string
}

func newBareCluster(t *testing.T, cli *client.Client, prefix string) *bareCluster {
	c := &bareCluster{t: t, cli: cli, name: uniqueCluster(prefix)}
	c.network = c.name
	ctx := context.Background()
	resp, err := cli.NetworkCreate(ctx, c.network, network.CreateOptions{Driver: "bridge",
		Labels: map[string]string{LabelCluster: c.name}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f := filters.NewArgs(filters.Arg("label", LabelCluster+"="+c.name))
		cs, _ := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		for _, x := range cs {
			_ = cli.ContainerUnpause(ctx, x.ID)
			if err := cli.ContainerRemove(ctx, x.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
				t.Errorf("remove %s: %v", x.ID, err)
			}
		}
		if err := cli.NetworkRemove(ctx, resp.ID); err != nil {
			t.Errorf("remove network: %v", err)
		}
		assertNothingLeft(t, cli, c.name)
	})
	return c
}

// run starts a labelled MariaDB container named server and returns its ID.
func (c *bareCluster) run(server string, labels map[string]string) string {
	c.t.Helper()
	ctx := context.Background()
	all := map[string]string{LabelCluster: c.name, LabelName: server}
	for k, v := range labels {
		all[k] = v
	}
	resp, err := c.cli.ContainerCreate(ctx,
		&container.Config{Image: DefaultImage, Env: []string{"MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1"}, Labels: all},
		&container.HostConfig{NetworkMode: container.NetworkMode(c.network)}, nil, nil, c.name+"-"+server)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		c.t.Fatal(err)
	}
	return resp.ID
}

func (c *bareCluster) discovery(fence string) *Discovery {
	d, err := NewDiscovery(config.Docker{Enabled: true, Label: LabelCluster + "=" + c.name, Network: c.network, Fence: fence}, testLogger(c.t))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { d.Close() })
	return d
}

func (c *bareCluster) state(id string) container.ContainerState {
	c.t.Helper()
	info, err := c.cli.ContainerInspect(context.Background(), id)
	if err != nil {
		c.t.Fatal(err)
	}
	return info.State.Status
}

// changeLog collects Watch callbacks.
type changeLog struct {
	mu      sync.Mutex
	added   []string
	removed []string
}

func (l *changeLog) record(added, removed []config.Server) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range added {
		l.added = append(l.added, s.Name+"@"+s.Address)
	}
	for _, s := range removed {
		l.removed = append(l.removed, s.Name)
	}
}

func (l *changeLog) has(added bool, prefix string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	list := l.removed
	if added {
		list = l.added
	}
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return nil
		}
	}
	return fmt.Errorf("%q not in %v", prefix, list)
}

func TestWatchFollowsContainers(t *testing.T) {
	cli := requireEngine(t)
	t.Parallel()
	c := newBareCluster(t, cli, "watch")
	c.run("db1", map[string]string{LabelDatacenter: "dc2", LabelPromotion: "prefer", LabelWeight: "50"})
	d := c.discovery("")
	d.Resync = time.Hour // events alone must drive the changes
	if _, err := d.Servers(context.Background()); err != nil {
		t.Fatal(err)
	}

	var log changeLog
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Watch(ctx, log.record); close(done) }()
	defer func() { cancel(); <-done }()

	id := c.run("db4", nil)
	eventually(t, 10*time.Second, "db4 added", func() error { return log.has(true, "db4@") })
	servers, err := d.Servers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 2 || servers[0].Datacenter != "dc2" || servers[0].Promotion != "prefer" || servers[0].Weight != 50 {
		t.Fatalf("servers = %+v", servers)
	}
	timeout := 1
	if err := cli.ContainerStop(context.Background(), id, container.StopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "db4 removed", func() error { return log.has(false, "db4") })

	// Leaving the addressed network removes a server even though it runs.
	if err := cli.NetworkDisconnect(context.Background(), c.network, c.name+"-db1", true); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "db1 removed after network disconnect", func() error { return log.has(false, "db1") })
	if err := log.has(false, "db4"); err != nil {
		t.Fatal(err)
	}
}

func TestFencer(t *testing.T) {
	cli := requireEngine(t)
	t.Parallel()
	c := newBareCluster(t, cli, "fence")
	ids := map[string]string{}
	for _, s := range []string{"db1", "db2", "db3"} {
		ids[s] = c.run(s, nil)
	}
	d := c.discovery("")
	ctx := context.Background()

	for _, tc := range []struct{ action, server, want string }{
		{"", "db1", "exited"}, // docker.fence default: stop
		{"kill", "db2", "exited"},
		{"pause", "db3", "paused"},
	} {
		desc, err := d.Fencer(tc.action).Fence(ctx, tc.server)
		if err != nil {
			t.Fatalf("%s %s: %v (%s)", tc.action, tc.server, err, desc)
		}
		action := tc.action
		if action == "" {
			action = "stop"
		}
		want := fmt.Sprintf("docker %s %s (container %s): ok", action, tc.server, ids[tc.server][:12])
		if desc != want {
			t.Errorf("description %q, want %q", desc, want)
		}
		if got := c.state(ids[tc.server]); string(got) != tc.want {
			t.Errorf("%s after %s: state %s, want %s", tc.server, action, got, tc.want)
		}
	}
	// Fencing twice is harmless: the server is already fenced.
	if desc, err := d.Fencer("kill").Fence(ctx, "db1"); err != nil || !strings.HasSuffix(desc, ": already exited") {
		t.Errorf("second fence: %q, %v", desc, err)
	}
	if desc, err := d.Fencer("none").Fence(ctx, "db2"); err != nil || !strings.Contains(desc, "disabled") {
		t.Errorf("fence none: %q, %v", desc, err)
	}
	if _, err := d.Fencer("stop").Fence(ctx, "db9"); err == nil || !strings.Contains(err.Error(), "no container") {
		t.Errorf("fencing an unknown server: %v", err)
	}
	servers, err := d.Servers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 0 {
		t.Errorf("fenced containers still discovered: %+v", servers)
	}
}
