package proxy

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/routing"
	"github.com/switchyard/switchyard/sandbox"
	"github.com/switchyard/switchyard/sandbox/sandboxtest"
	"github.com/switchyard/switchyard/topology"
)

// env is a proxy in front of a real sandbox topology.
type env struct {
	sb   *sandbox.Sandbox
	cfg  *config.Config
	view *topology.View
	srv  *Server
	addr string
}

// newEnv starts a sandbox with the given number of replicas and a proxy in
// front of it. mut adjusts the configuration before the proxy starts.
func newEnv(t testing.TB, replicas int, mut func(*config.Config)) *env {
	t.Helper()
	sb := sandboxtest.New(t, sandboxtest.Replicas(replicas))
	return newEnvOn(t, sb, mut)
}

// newEnvOn starts a proxy in front of an existing sandbox.
func newEnvOn(t testing.TB, sb *sandbox.Sandbox, mut func(*config.Config)) *env {
	t.Helper()
	cfg := sb.Config()
	cfg.Pool.MinIdle = 2
	if mut != nil {
		mut(cfg)
	}
	var servers []topology.Server
	for i, n := range sb.Nodes {
		role := topology.RoleReplica
		if i == 0 {
			role = topology.RolePrimary
		}
		servers = append(servers, topology.Server{
			Name: n.Name, Addr: n.Addr, Datacenter: "dc1", Weight: 100,
			Reachable: true, Role: role, LagEligible: true, Flavor: topology.FlavorMariaDB,
		})
	}
	view := topology.NewView(servers)
	view.Update(func(s *topology.Snapshot) { s.Primary = sb.Nodes[0].Name; s.Epoch = 1 })
	router, err := routing.NewRouter(cfg)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	level := slog.LevelWarn
	if os.Getenv("PROXY_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	srv, err := New(Options{Config: cfg, View: view, Router: router, Logger: log})
	if err != nil {
		t.Fatalf("proxy.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &env{sb: sb, cfg: cfg, view: view, srv: srv, addr: ln.Addr().String()}
}

// dsn is a go-sql-driver DSN for the proxy with extra parameters.
func (e *env) dsn(user, pass, params string) string {
	d := fmt.Sprintf("%s:%s@tcp(%s)/", user, pass, e.addr)
	if params != "" {
		d += "?" + params
	}
	return d
}

// db opens a pool to the proxy as app/app, closed at cleanup.
func (e *env) db(t testing.TB, params string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", e.dsn("app", "app", params))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// conn returns one dedicated client connection (one proxy session).
func (e *env) conn(t testing.TB, params string) *sql.Conn {
	t.Helper()
	db := e.db(t, params)
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatalf("connect through proxy: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustExec(t testing.TB, q interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, query string, args ...any) sql.Result {
	t.Helper()
	r, err := q.ExecContext(context.Background(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return r
}

func queryString(t testing.TB, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, query string, args ...any) string {
	t.Helper()
	var s sql.NullString
	if err := q.QueryRowContext(context.Background(), query, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s.String
}

// mysqlErr returns err's server error number, or 0.
func mysqlErr(err error) uint16 {
	if me, ok := err.(*mysql.MySQLError); ok {
		return me.Number
	}
	return 0
}

// pauseReplica stops db2's SQL thread until the test ends: it keeps
// receiving but applies nothing, so its data goes stale while it stays
// reachable (and, with a lag limit of 1s or more, briefly eligible).
func pauseReplica(t *testing.T, sb *sandbox.Sandbox) {
	t.Helper()
	db := sb.DB(t, "db2")
	mustExec(t, db, "STOP SLAVE SQL_THREAD")
	t.Cleanup(func() { mustExec(t, db, "START SLAVE SQL_THREAD") })
}

// takeLastPooled opens a session whose transaction holds the pool's most
// recently used connection until the test ends: a session that should have
// pinned its own connection loses it to this one if it did not.
func takeLastPooled(t *testing.T, e *env) {
	t.Helper()
	c := e.conn(t, "")
	mustExec(t, c, "BEGIN")
	mustExec(t, c, "SELECT 1")
	t.Cleanup(func() { mustExec(t, c, "ROLLBACK") })
}
