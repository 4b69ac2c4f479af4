package admin

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/digest"
	"github.com/switchyard/switchyard/topology"
)

// fakeProxy stands in for the proxy side only (an interface the admin
// package owns); the databases in these tests are always real.
type fakeProxy struct {
	mu      sync.Mutex
	clients []Client
	pools   []Pool
	stats   Stats
	killed  []uint64
}

func (p *fakeProxy) Clients() []Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Client(nil), p.clients...)
}

func (p *fakeProxy) KillClient(id uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, c := range p.clients {
		if c.ID == id {
			p.clients = append(p.clients[:i], p.clients[i+1:]...)
			p.killed = append(p.killed, id)
			return true
		}
	}
	return false
}

func (p *fakeProxy) Pools() []Pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Pool(nil), p.pools...)
}

func (p *fakeProxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// fakeFailover stands in for the failover manager.
type fakeFailover struct {
	mu     sync.Mutex
	events []Event
	err    error // returned by the next Switchover/Failover
	target string
}

func (f *fakeFailover) run(kind, target string) (Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.target = target
	if f.err != nil {
		return Event{}, f.err
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := Event{
		ID: len(f.events) + 1, Kind: kind, Trigger: "manual", OldPrimary: "db1", NewPrimary: target,
		Result: "success",
		Phases: []Phase{
			{"candidate_chosen", t0}, {"caught_up", t0.Add(120 * time.Millisecond)},
			{"promoted", t0.Add(150 * time.Millisecond)}, {"writes_resumed", t0.Add(151500 * time.Microsecond)},
		},
	}
	f.events = append(f.events, ev)
	return ev, nil
}

func (f *fakeFailover) Switchover(_ context.Context, target string) (Event, error) {
	return f.run("switchover", target)
}

func (f *fakeFailover) Failover(_ context.Context, target string) (Event, error) {
	return f.run("failover", target)
}

func (f *fakeFailover) Events() []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Event(nil), f.events...)
}

func (f *fakeFailover) State() string { return "healthy" }

// env is an admin server on a free loopback port.
type env struct {
	a        *Admin
	addr     string
	port     string
	cfg      *config.Config
	view     *topology.View
	proxy    *fakeProxy
	failover *fakeFailover
	digests  *digest.Store
	reload   func() error
	mu       sync.Mutex // guards cfg
}

// startAdmin serves an admin port for cfg (its admin users) and view.
func startAdmin(t *testing.T, cfg *config.Config, view *topology.View) *env {
	t.Helper()
	e := &env{cfg: cfg, view: view, proxy: &fakeProxy{}, failover: &fakeFailover{}, digests: digest.New(digest.Options{})}
	mu := &e.mu
	e.reload = func() error { return nil }
	var tc *tls.Config
	if cfg.TLS.Client.Enabled && cfg.TLS.Client.Cert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.Client.Cert, cfg.TLS.Client.Key)
		if err != nil {
			t.Fatal(err)
		}
		tc = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	e.a = New(Deps{
		TLS: tc,
		Config: func() *config.Config {
			mu.Lock()
			defer mu.Unlock()
			return e.cfg
		},
		Reload:   func() error { return e.reload() },
		View:     view,
		Proxy:    e.proxy,
		Failover: e.failover,
		Digests:  e.digests,
		Logger:   slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Version:  "test",
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.a.Serve(ln) }()
	t.Cleanup(func() {
		e.a.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	e.addr = ln.Addr().String()
	_, e.port, _ = net.SplitHostPort(e.addr)
	return e
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// db opens a go-sql-driver pool to the admin port.
// setConfig replaces the configuration the admin port reads at each login.
func (e *env) setConfig(c *config.Config) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfg = c
}

func (e *env) db(t *testing.T, user, pass string) *sql.DB {
	t.Helper()
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr = user, pass, "tcp", e.addr
	c.Timeout = 5 * time.Second
	c.ParseTime = true
	connector, err := mysql.NewConnector(c)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() })
	return db
}

// rows runs q and returns the column names and every row as strings
// ("NULL" for NULL).
func rows(t *testing.T, db *sql.DB, q string) ([]string, [][]string) {
	t.Helper()
	r, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer r.Close()
	cols, err := r.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for r.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			t.Fatalf("%s: scan: %v", q, err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = "NULL"
			if v.Valid {
				row[i] = v.String
			}
		}
		out = append(out, row)
	}
	if err := r.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return cols, out
}

// mysqlErr runs q and returns the server error it must fail with.
func mysqlErr(t *testing.T, db *sql.DB, q string) *mysql.MySQLError {
	t.Helper()
	_, err := db.Exec(q)
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		t.Fatalf("%s: want a MySQL error, got %v", q, err)
	}
	return me
}

// cli runs the mariadb command-line client against the admin port in batch
// mode and returns its output lines.
func (e *env) cli(t *testing.T, user, pass, q string) ([]string, error) {
	t.Helper()
	path, err := exec.LookPath("mariadb")
	if err != nil {
		t.Fatalf("mariadb client not installed (make deps installs it): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--no-defaults", "--protocol=tcp", "-h127.0.0.1", "-P"+e.port,
		"-u"+user, "-p"+pass, "-N", "-B", "-e", q)
	cmd.Env = append(os.Environ(), "MYSQL_PWD=")
	out, err := cmd.CombinedOutput()
	text := strings.TrimRight(string(out), "\n")
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, text)
	}
	if text == "" {
		return nil, nil
	}
	return strings.Split(text, "\n"), nil
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
