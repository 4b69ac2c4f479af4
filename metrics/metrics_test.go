package metrics

import (
	"context"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/switchyard/switchyard/admin"
	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/digest"
	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/routing"
	"github.com/switchyard/switchyard/sandbox/sandboxtest"
	"github.com/switchyard/switchyard/topology"
)

// fakeProxy and fakeFailover stand in for the proxy and failover sides
// (interfaces this package owns); the databases are real.
type fakeProxy struct {
	mu    sync.Mutex
	stats admin.Stats
	pools []admin.Pool
}

func (p *fakeProxy) Pools() []admin.Pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]admin.Pool(nil), p.pools...)
}

func (p *fakeProxy) Stats() admin.Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

type fakeFailover struct {
	mu     sync.Mutex
	events []admin.Event
	state  string
}

func (f *fakeFailover) Events() []admin.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]admin.Event(nil), f.events...)
}

func (f *fakeFailover) State() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

// serve starts m on a free loopback port and returns its base URL.
func serve(t *testing.T, m *Metrics) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Serve(ln) }()
	t.Cleanup(func() {
		m.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// scrape fetches /metrics and parses it.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value returns the sample of family name whose labels include all of
// labels ("k", "v", ...); ok is false when there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func mustValue(t *testing.T, fams map[string]*dto.MetricFamily, want float64, name string, labels ...string) {
	t.Helper()
	v, ok := value(fams, name, labels...)
	if !ok {
		t.Errorf("%s%v: missing", name, labels)
		return
	}
	if v != want {
		t.Errorf("%s%v = %v, want %v", name, labels, v, want)
	}
}

func TestMetricsAgainstSandbox(t *testing.T) {
	sb := sandboxtest.New(t, sandboxtest.Replicas(2))
	cfg := sb.Config()
	// The machine running the tests may be heavily loaded: a check that is
	// merely slow must not make a server look down here.
	cfg.Health.Timeout = config.Duration(3 * time.Second)
	var servers []topology.Server
	for _, s := range cfg.Servers {
		servers = append(servers, health.ServerFromConfig(s))
	}
	view := topology.NewView(servers)
	view.Update(func(s *topology.Snapshot) {
		s.Primary, s.Epoch = "db1", 1
		for i := range s.Servers {
			s.Servers[i].Role = topology.RoleReplica
		}
		s.Server("db1").Role = topology.RolePrimary
	})
	ctx, cancel := context.WithCancel(context.Background())
	mon := health.New(cfg, view, slog.New(slog.DiscardHandler))
	monDone := make(chan struct{})
	go func() { mon.Run(ctx); close(monDone) }()
	t.Cleanup(func() { cancel(); <-monDone })

	proxy := &fakeProxy{
		stats: admin.Stats{Accepting: true, ClientsConnected: 3, ClientsTotal: 10, AuthFailures: 2, HeldWrites: 0},
		pools: []admin.Pool{
			{Server: "db1", User: "app", Idle: 4, InUse: 1, Queries: 100, Waits: 3, Timeouts: 1},
			{Server: "db1", User: "report", Idle: 2, InUse: 0, Queries: 5},
			{Server: "db2", User: "app", Idle: 1, InUse: 2, Queries: 50},
		},
	}
	t0 := time.Now()
	fo := &fakeFailover{state: "healthy", events: []admin.Event{{
		ID: 1, Kind: "failover", Result: "success",
		Phases: []admin.Phase{{Name: "suspected", At: t0}, {Name: "confirmed", At: t0.Add(750 * time.Millisecond)}, {Name: "writes_resumed", At: t0.Add(1200 * time.Millisecond)}},
	}}}
	store := digest.New(digest.Options{})
	m := New(Deps{View: view, Proxy: proxy, Failover: fo, Digests: store})
	base := serve(t, m)

	eventually(t, 15*time.Second, "all servers up with replica lag", func() bool {
		fams := scrape(t, base)
		for _, s := range []string{"db1", "db2", "db3"} {
			if v, _ := value(fams, "switchyard_server_up", "server", s); v != 1 {
				return false
			}
		}
		_, lag2 := value(fams, "switchyard_replica_lag_seconds", "server", "db2")
		_, lag3 := value(fams, "switchyard_replica_lag_seconds", "server", "db3")
		return lag2 && lag3
	})

	fams := scrape(t, base)
	mustValue(t, fams, 1, "switchyard_server_role", "server", "db1", "role", "primary")
	mustValue(t, fams, 0, "switchyard_server_role", "server", "db1", "role", "replica")
	mustValue(t, fams, 1, "switchyard_server_role", "server", "db2", "role", "replica")
	mustValue(t, fams, 1, "switchyard_primary_reachable")
	mustValue(t, fams, 1, "switchyard_write_gate", "state", "open")
	mustValue(t, fams, 3, "switchyard_client_connections")
	mustValue(t, fams, 10, "switchyard_client_connections_total")
	mustValue(t, fams, 2, "switchyard_client_auth_failures_total")
	mustValue(t, fams, 6, "switchyard_backend_connections", "server", "db1", "state", "idle")
	mustValue(t, fams, 1, "switchyard_backend_connections", "server", "db1", "state", "in_use")
	mustValue(t, fams, 2, "switchyard_backend_connections", "server", "db2", "state", "in_use")
	mustValue(t, fams, 3, "switchyard_pool_waits_total", "server", "db1")
	mustValue(t, fams, 1, "switchyard_pool_timeouts_total", "server", "db1")
	mustValue(t, fams, 1, "switchyard_failovers_total", "kind", "failover", "result", "success")
	mustValue(t, fams, 0, "switchyard_failovers_total", "kind", "switchover", "result", "success")
	mustValue(t, fams, 0.75, "switchyard_failover_phase_seconds", "phase", "confirmed")
	mustValue(t, fams, 1.2, "switchyard_failover_phase_seconds", "phase", "writes_resumed")
	mustValue(t, fams, 1, "switchyard_failover_state", "state", "healthy")
	mustValue(t, fams, 0, "switchyard_queries_total", "route", "replica", "result", "ok")
	for _, name := range []string{"go_goroutines", "process_open_fds", "switchyard_query_duration_seconds", "switchyard_config_reloads_total"} {
		if fams[name] == nil {
			t.Errorf("%s missing", name)
		}
	}
	for _, s := range []string{"db1", "db2", "db3"} {
		var want int
		if err := sb.DB(t, s).QueryRow("SELECT @@read_only").Scan(&want); err != nil {
			t.Fatal(err)
		}
		mustValue(t, fams, float64(want), "switchyard_server_read_only", "server", s)
	}
	if _, ok := value(fams, "switchyard_replica_lag_seconds", "server", "db1"); ok {
		t.Error("the primary has a replica lag")
	}

	t.Run("StatementsChangeCounters", func(t *testing.T) {
		for range 3 {
			m.Statement("app", []byte("SELECT * FROM t WHERE id = 5"), routing.RouteReplica, "db2", 2*time.Millisecond, 1, false)
		}
		m.Statement("app", []byte("UPDATE t SET a = 1"), routing.RoutePrimary, "db1", 30*time.Millisecond, 1, true)
		m.ConfigReloaded(nil)
		fams := scrape(t, base)
		mustValue(t, fams, 3, "switchyard_queries_total", "route", "replica", "result", "ok")
		mustValue(t, fams, 1, "switchyard_queries_total", "route", "primary", "result", "error")
		mustValue(t, fams, 3, "switchyard_query_duration_seconds", "route", "replica")
		mustValue(t, fams, 1, "switchyard_config_reloads_total", "result", "ok")
		mustValue(t, fams, 2, "switchyard_query_digests")
		if store.Snapshot()[0].Total != 30*time.Millisecond {
			t.Errorf("digests not recorded: %+v", store.Snapshot())
		}
		// Histogram buckets reach from 50µs to 10s.
		h := fams["switchyard_query_duration_seconds"].Metric[0].Histogram
		b := h.Bucket
		if len(b) > 0 && math.IsInf(b[len(b)-1].GetUpperBound(), 1) { // the parser keeps +Inf
			b = b[:len(b)-1]
		}
		if b[0].GetUpperBound() != 0.00005 || b[len(b)-1].GetUpperBound() != 10 {
			t.Errorf("buckets %v .. %v", b[0].GetUpperBound(), b[len(b)-1].GetUpperBound())
		}
	})

	t.Run("NewFailoverEventsCountOnce", func(t *testing.T) {
		fo.mu.Lock()
		fo.events = append(fo.events, admin.Event{ID: 2, Kind: "switchover", Result: "success",
			Phases: []admin.Phase{{Name: "candidate_chosen", At: t0}, {Name: "writes_resumed", At: t0.Add(300 * time.Millisecond)}}})
		fo.mu.Unlock()
		scrape(t, base)
		fams := scrape(t, base) // a second scrape must not count it again
		mustValue(t, fams, 1, "switchyard_failovers_total", "kind", "switchover", "result", "success")
		mustValue(t, fams, 1, "switchyard_failovers_total", "kind", "failover", "result", "success")
		mustValue(t, fams, 0.3, "switchyard_failover_phase_seconds", "phase", "writes_resumed")
		if _, ok := value(fams, "switchyard_failover_phase_seconds", "phase", "confirmed"); ok {
			t.Error("phases of an older event are still exported")
		}
	})

	t.Run("Readyz", func(t *testing.T) {
		if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
			t.Fatalf("/healthz: %d %q", code, body)
		}
		if code, body := get(t, base+"/readyz"); code != 200 {
			t.Fatalf("/readyz with a primary: %d %q", code, body)
		}
		view.Update(func(s *topology.Snapshot) {
			s.Gate, s.HoldUntil, s.Reason = topology.WritesHeld, time.Now().Add(10*time.Second), "failover in progress"
		})
		if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "writes held: failover in progress") {
			t.Fatalf("/readyz with writes held: %d %q", code, body)
		}
		view.Update(func(s *topology.Snapshot) { s.Gate, s.Reason, s.Primary = topology.WritesOpen, "", "" })
		if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "no primary") {
			t.Fatalf("/readyz without a primary: %d %q", code, body)
		}
		fams := scrape(t, base)
		mustValue(t, fams, 0, "switchyard_primary_reachable")
		view.Update(func(s *topology.Snapshot) { s.Primary = "db1" })
		proxy.mu.Lock()
		proxy.stats.Accepting = false
		proxy.mu.Unlock()
		if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "not accepting") {
			t.Fatalf("/readyz with the proxy not accepting: %d %q", code, body)
		}
		proxy.mu.Lock()
		proxy.stats.Accepting = true
		proxy.mu.Unlock()
		if code, _ := get(t, base+"/readyz"); code != 200 {
			t.Fatalf("/readyz after recovery: %d", code)
		}
	})

	t.Run("ServerGoesDown", func(t *testing.T) {
		if err := sb.Kill("db3"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "switchyard_server_up{db3} 0", func() bool {
			v, ok := value(scrape(t, base), "switchyard_server_up", "server", "db3")
			return ok && v == 0
		})
		fams := scrape(t, base)
		if _, ok := value(fams, "switchyard_server_read_only", "server", "db3"); ok {
			t.Error("read_only exported for an unreachable server")
		}
		mustValue(t, fams, 1, "switchyard_server_up", "server", "db1")
	})
}

func TestStatementDoesNotAllocate(t *testing.T) {
	view := topology.NewView(nil)
	m := New(Deps{View: view, Digests: digest.New(digest.Options{})})
	sql := []byte("SELECT c FROM sbtest1 WHERE id = 42")
	m.Statement("app", sql, routing.RouteReplica, "db2", time.Millisecond, 1, false)
	allocs := testing.AllocsPerRun(1000, func() {
		m.Statement("app", sql, routing.RouteReplica, "db2", 300*time.Microsecond, 1, false)
		m.Statement("app", sql, routing.RoutePrimary, "db1", 300*time.Microsecond, 1, true)
	})
	if allocs != 0 {
		t.Fatalf("Statement allocates %.1f times per call pair", allocs)
	}
	// An out-of-range route must not panic on the hot path.
	m.Statement("app", sql, routing.Route(200), "db1", time.Millisecond, 0, false)
}

func BenchmarkStatement(b *testing.B) {
	m := New(Deps{View: topology.NewView(nil), Digests: digest.New(digest.Options{})})
	sql := []byte("SELECT c FROM sbtest1 WHERE id = 42")
	b.ReportAllocs()
	for b.Loop() {
		m.Statement("app", sql, routing.RouteReplica, "db2", 300*time.Microsecond, 1, false)
	}
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDashboardUsesExportedMetrics keeps configs/grafana-dashboard.json in
// step with the metric names.
func TestDashboardUsesExportedMetrics(t *testing.T) {
	b, err := os.ReadFile("../configs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	view := topology.NewView([]topology.Server{{Name: "db2", IsReplica: true, LagMs: 5, Reachable: true}})
	proxy := &fakeProxy{pools: []admin.Pool{{Server: "db2", User: "app"}}}
	fo := &fakeFailover{state: "healthy", events: []admin.Event{{ID: 1, Kind: "failover", Result: "success",
		Phases: []admin.Phase{{Name: "suspected", At: time.Now()}}}}}
	m := New(Deps{View: view, Proxy: proxy, Failover: fo, Digests: digest.New(digest.Options{})})
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, f := range fams {
		exported[f.GetName()] = true
	}
	used := regexp.MustCompile(`\b(switchyard|go|process)_[a-z_]+`).FindAllString(string(b), -1)
	if len(used) < 20 {
		t.Fatalf("the dashboard uses only %d metric names", len(used))
	}
	for _, name := range used {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if !exported[base] {
			t.Errorf("dashboard uses %s, which is not exported", name)
		}
	}
}
