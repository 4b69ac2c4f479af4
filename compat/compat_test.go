// Package compat drives real MySQL client libraries in several languages
// through a whole in-process Switchyard and directly against the primary,
// and requires both runs to print the same thing. The client scripts live in
// clients/; scripts/deps-compat.sh installs their runtimes.
package compat

import (
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"testing"

	_ "github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/app"
	"github.com/switchyard/switchyard/app/apptest"
	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/sandbox"
	"github.com/switchyard/switchyard/sandbox/sandboxtest"
)

// env is one sandbox topology with a Switchyard in front of it.
type env struct {
	sb  *sandbox.Sandbox
	app *app.App
}

// Endpoints a client script is pointed at.
type endpoint struct {
	name string // "proxy" or "direct"
	host string
	port int
}

func (e *env) proxy() endpoint  { return hostPort(e.app.AppAddr(), "proxy") }
func (e *env) direct() endpoint { return hostPort(e.sb.Primary().Addr, "direct") }

func hostPort(addr, name string) endpoint {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		panic(fmt.Sprintf("compat: address %q: %v", addr, err))
	}
	port, _ := strconv.Atoi(p)
	return endpoint{name: name, host: h, port: port}
}

// largeValue is the size of the BLOB the clients round-trip: larger than the
// 16 MiB packet limit, so the protocol's packet splitting is exercised.
const largeValue = 20 << 20

// newEnv starts a primary with two replicas and a Switchyard (client TLS on,
// self-signed) in front of them.
func newEnv(t *testing.T) *env {
	t.Helper()
	sb := sandboxtest.New(t, sandboxtest.Replicas(2))
	// Servers take 16 MiB packets by default; the large-value check needs
	// more, and LOAD DATA LOCAL must be allowed. Set before the proxy opens
	// its pools: a session's packet limit is fixed when it connects.
	for _, n := range sb.Nodes {
		db := sb.DB(t, n.Name)
		for _, q := range []string{
			"SET GLOBAL max_allowed_packet = 64*1024*1024",
			"SET GLOBAL local_infile = ON",
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %s: %v", n.Name, q, err)
			}
		}
		db.Close()
	}
	cfg := sb.Config()
	cfg.TLS.Client = config.ClientTLS{Enabled: true}
	// On a loaded 2-core machine a busy primary can miss health checks; a
	// failover mid-suite would send the "direct" runs to a demoted server.
	// Failover has its own drills; here the topology must stay put.
	cfg.Failover.Enabled = false
	return &env{sb: sb, app: startApp(t, cfg)}
}

// startApp runs a whole Switchyard for cfg on free loopback ports, its
// config checked and defaulted exactly as `switchyard serve` does it.
func startApp(t *testing.T, cfg *config.Config) *app.App {
	t.Helper()
	cfg.Listen = config.Listen{App: "127.0.0.1:0", Admin: "127.0.0.1:0", Metrics: "127.0.0.1:0"}
	return apptest.Start(t, cfg, slog.LevelWarn)
}

// primaryDB is a direct connection to the primary as the app user.
func (e *env) primaryDB(t *testing.T) *sql.DB {
	return e.sb.DB(t, e.sb.Primary().Name)
}

// proxyDB is a go-sql-driver pool through Switchyard.
func (e *env) proxyDB(t *testing.T, params string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", fmt.Sprintf("app:app@tcp(%s)/?%s", e.app.AppAddr(), params))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
