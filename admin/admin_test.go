package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/routing"
	"github.com/switchyard/switchyard/sandbox/sandboxtest"
	"github.com/switchyard/switchyard/topology"
)

// TestAdminPortAgainstSandbox drives every command through go-sql-driver and
// the mariadb CLI, with the view filled by real health monitors watching a
// real replication topology. Roles are set by hand (failover is not run).
func TestAdminPortAgainstSandbox(t *testing.T) {
	sb := sandboxtest.New(t, sandboxtest.Replicas(2))
	cfg := sb.Config()
	// The machine running the tests may be heavily loaded: a check that is
	// merely slow must not make a server look down here.
	cfg.Health.Timeout = config.Duration(3 * time.Second)
	cfg.Path = "/etc/switchyard/test.yaml"
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

	e := startAdmin(t, cfg, view)
	e.proxy.stats = Stats{Accepting: true, ClientsConnected: 2, ClientsTotal: 9, AuthFailures: 1, Statements: 1234}
	e.proxy.pools = []Pool{
		{Server: "db2", User: "app", Idle: 3, InUse: 1, Max: 200, Queries: 700, Waits: 2},
		{Server: "db1", User: "app", Idle: 4, InUse: 0, Max: 200, Queries: 500},
		{Server: "db2", User: "report", Idle: 1, InUse: 0, Max: 200, Queries: 34},
	}
	e.proxy.clients = []Client{
		{ID: 12, User: "app", Addr: "127.0.0.1:50001", DB: "shop", State: "idle", ConnectedAt: time.Now(), Queries: 10},
		{ID: 7, User: "report", Addr: "127.0.0.1:50002", State: "pinned", Server: "db2", ConnectedAt: time.Now(), Queries: 3, TLS: true},
	}
	db := e.db(t, "admin", "admin")

	// Wait until the monitors have observed every server, and a write has
	// replicated so every server has a GTID position.
	if _, err := sb.DB(t, "db1").Exec("CREATE TABLE test.admin_probe (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "health observations of all servers with replica lag and GTID", func() bool {
		_, rs := rows(t, db, "SHOW SERVERS")
		for _, r := range rs {
			if r[4] != "up" || r[7] == "" || (r[0] != "db1" && r[6] == "NULL") {
				return false
			}
		}
		return len(rs) == 3
	})

	t.Run("ShowServers", func(t *testing.T) {
		cols, rs := rows(t, db, "SHOW SERVERS")
		if want := "name address datacenter role state read_only lag_ms gtid connections queries"; strings.Join(cols, " ") != want {
			t.Fatalf("columns %v, want %s", cols, want)
		}
		for i, r := range rs {
			n := sb.Nodes[i]
			var readOnly int
			if err := sb.DB(t, n.Name).QueryRow("SELECT @@read_only").Scan(&readOnly); err != nil {
				t.Fatal(err)
			}
			role := "replica"
			if n.Name == "db1" {
				role = "primary"
			}
			if r[0] != n.Name || r[1] != n.Addr || r[2] != "dc1" || r[3] != role || r[5] != strconv.Itoa(readOnly) {
				t.Errorf("row %v: want %s %s dc1 %s read_only=%d", r, n.Name, n.Addr, role, readOnly)
			}
			if !strings.Contains(r[7], "-") { // a MariaDB GTID position: domain-server-seq
				t.Errorf("%s gtid %q", n.Name, r[7])
			}
			if n.Name == "db1" && r[6] != "NULL" {
				t.Errorf("primary lag_ms %q, want NULL", r[6])
			}
			if n.Name != "db1" {
				if lag, err := strconv.Atoi(r[6]); err != nil || lag < 0 || lag > 5000 {
					t.Errorf("%s lag_ms %q", n.Name, r[6])
				}
			}
		}
		// connections and queries are summed over the server's pools.
		if got := fmt.Sprint(rs[0][8:], rs[1][8:], rs[2][8:]); got != "[4 500] [5 734] [0 0]" {
			t.Errorf("connections/queries %s", got)
		}
	})

	t.Run("ShowServersWithMariadbCLI", func(t *testing.T) {
		lines, err := e.cli(t, "admin", "admin", "show servers like 'db%' limit 2;")
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) != 2 {
			t.Fatalf("want 2 lines, got %q", lines)
		}
		f := strings.Split(lines[1], "\t")
		if len(f) != 10 || f[0] != "db2" || f[1] != sb.Nodes[1].Addr || f[3] != "replica" || f[4] != "up" {
			t.Fatalf("db2 line %q", lines[1])
		}
	})

	t.Run("LikeAndLimit", func(t *testing.T) {
		for q, want := range map[string]string{
			"SHOW SERVERS LIKE 'db2'":          "db2",
			"SHOW SERVERS LIKE 'DB_'":          "db1 db2 db3",
			"SHOW SERVERS LIKE '%3'":           "db3",
			"SHOW SERVERS LIKE 'x%'":           "",
			"SHOW SERVERS LIMIT 1":             "db1",
			"SHOW SERVERS LIMIT 0":             "",
			"SHOW SERVERS LIKE 'db%' LIMIT 2":  "db1 db2",
			"SHOW POOLS LIKE 'db2'":            "db2 db2",
			"SHOW CLIENTS LIKE 'rep%'":         "7",
			"SHOW STATUS LIKE 'clients_conn%'": "clients_connected",
		} {
			_, rs := rows(t, db, q)
			var got []string
			for _, r := range rs {
				got = append(got, r[0])
			}
			if strings.Join(got, " ") != want {
				t.Errorf("%s: got %q, want %q", q, got, want)
			}
		}
	})

	t.Run("SetServer", func(t *testing.T) {
		for _, tc := range []struct {
			q, state string
			admin    topology.AdminState
		}{
			{"SET SERVER 'db2' OFFLINE", "offline", topology.AdminOffline},
			{"set server db2 drain;", "drain", topology.AdminDrain},
			{"SET SERVER `db2` ONLINE", "up", topology.AdminOnline},
		} {
			if _, err := db.Exec(tc.q); err != nil {
				t.Fatalf("%s: %v", tc.q, err)
			}
			if got := view.Load().Server("db2").Admin; got != tc.admin {
				t.Errorf("%s: view has %v", tc.q, got)
			}
			_, rs := rows(t, db, "SHOW SERVERS LIKE 'db2'")
			if rs[0][4] != tc.state {
				t.Errorf("%s: state %q, want %q", tc.q, rs[0][4], tc.state)
			}
		}
		me := mysqlErr(t, db, "SET SERVER 'db9' OFFLINE")
		if me.Number != 1105 || !strings.Contains(me.Message, "Unknown server 'db9'") {
			t.Errorf("unknown server: %v", me)
		}
	})

	t.Run("ClientsAndKill", func(t *testing.T) {
		cols, rs := rows(t, db, "SHOW CLIENTS")
		if want := "id user address db state server connected_at queries tls"; strings.Join(cols, " ") != want {
			t.Fatalf("columns %v", cols)
		}
		if len(rs) != 2 || rs[0][0] != "7" || rs[0][5] != "db2" || rs[0][8] != "1" || rs[1][0] != "12" || rs[1][3] != "shop" || rs[1][5] != "NULL" {
			t.Fatalf("clients %v", rs)
		}
		if _, err := db.Exec("KILL CLIENT 7"); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(e.proxy.killed) != "[7]" {
			t.Fatalf("killed %v", e.proxy.killed)
		}
		if me := mysqlErr(t, db, "KILL CLIENT 7"); me.Number != 1094 {
			t.Errorf("second kill: %v", me)
		}
		if _, rs := rows(t, db, "SHOW CLIENTS"); len(rs) != 1 || rs[0][0] != "12" {
			t.Errorf("after kill: %v", rs)
		}
	})

	t.Run("Pools", func(t *testing.T) {
		cols, rs := rows(t, db, "SHOW POOLS")
		if want := "server user idle in_use max waiting waits timeouts connects errors queries"; strings.Join(cols, " ") != want {
			t.Fatalf("columns %v", cols)
		}
		if got := fmt.Sprint(rs); got != "[[db1 app 4 0 200 0 0 0 0 0 500] [db2 app 3 1 200 0 2 0 0 0 700] [db2 report 1 0 200 0 0 0 0 0 34]]" {
			t.Errorf("pools %s", got)
		}
	})

	t.Run("QueryDigests", func(t *testing.T) {
		rec := func(q string, route routing.Route, d time.Duration, rows int64, failed bool) {
			b := []byte(q)
			e.digests.Record(routing.DigestHash(b), b, route.String(), d, rows, failed)
		}
		rec("SELECT * FROM t WHERE id = 1", routing.RouteReplica, 2*time.Millisecond, 1, false)
		rec("SELECT * FROM t WHERE id = 2", routing.RouteReplica, 4*time.Millisecond, 1, false)
		rec("UPDATE t SET v = 'x' WHERE id = 3", routing.RoutePrimary, 10*time.Millisecond, 1, true)
		cols, rs := rows(t, db, "SHOW QUERY DIGESTS")
		if want := "digest digest_text count total_ms avg_ms max_ms rows errors route first_seen last_seen"; strings.Join(cols, " ") != want {
			t.Fatalf("columns %v", cols)
		}
		if len(rs) != 2 {
			t.Fatalf("digests %v", rs)
		}
		upd, sel := rs[0], rs[1] // by total time
		if !strings.HasPrefix(upd[1], "UPDATE") || upd[2] != "1" || upd[3] != "10" || upd[7] != "1" || upd[8] != "primary" {
			t.Errorf("update digest %v", upd)
		}
		if sel[2] != "2" || sel[3] != "6" || sel[4] != "3" || sel[5] != "4" || sel[6] != "2" || sel[8] != "replica" || strings.Contains(sel[1], "1") {
			t.Errorf("select digest %v", sel)
		}
		if len(upd[0]) != 16 {
			t.Errorf("digest %q is not 16 hex digits", upd[0])
		}
		if _, rs := rows(t, db, "SHOW QUERY DIGESTS LIKE 'select%'"); len(rs) != 1 {
			t.Errorf("LIKE on digest_text: %v", rs)
		}
		if _, err := db.Exec("RESET QUERY DIGESTS"); err != nil {
			t.Fatal(err)
		}
		if _, rs := rows(t, db, "SHOW QUERY DIGESTS"); len(rs) != 0 {
			t.Errorf("after reset: %v", rs)
		}
	})

	t.Run("SwitchoverFailoverEvents", func(t *testing.T) {
		cols, rs := rows(t, db, "SWITCHOVER TO 'db2'")
		if want := "id kind trigger old_primary new_primary result reason started_at duration_ms phases fence"; strings.Join(cols, " ") != want {
			t.Fatalf("columns %v", cols)
		}
		if len(rs) != 1 || rs[0][1] != "switchover" || rs[0][4] != "db2" || rs[0][5] != "success" || rs[0][8] != "151.5" ||
			rs[0][9] != "candidate_chosen:0 caught_up:120 promoted:150 writes_resumed:151.5" {
			t.Fatalf("switchover result %v", rs)
		}
		if _, rs := rows(t, db, "FAILOVER"); len(rs) != 1 || rs[0][1] != "failover" || e.failover.target != "" {
			t.Fatalf("failover result %v (target %q)", rs, e.failover.target)
		}
		e.failover.err = errors.New("no safe candidate: db3 has errant transactions")
		me := mysqlErr(t, db, "FAILOVER TO 'db3'")
		if me.Number != 1105 || !strings.Contains(me.Message, "FAILOVER failed: no safe candidate") {
			t.Errorf("failover error %v", me)
		}
		_, rs = rows(t, db, "SHOW EVENTS")
		if len(rs) != 2 || rs[0][0] != "2" || rs[1][0] != "1" { // newest first
			t.Errorf("events %v", rs)
		}
		if _, rs := rows(t, db, "SHOW EVENTS LIMIT 1"); len(rs) != 1 || rs[0][1] != "failover" {
			t.Errorf("events limit %v", rs)
		}
	})

	t.Run("StatusConfigHelp", func(t *testing.T) {
		_, rs := rows(t, db, "SHOW STATUS")
		status := map[string]string{}
		for _, r := range rs {
			status[r[0]] = r[1]
		}
		for k, want := range map[string]string{
			"primary": "db1", "write_gate": "open", "config_file": "/etc/switchyard/test.yaml",
			"failover_state": "healthy", "clients_connected": "2", "statements": "1234", "servers": "3",
			"version": "test",
		} {
			if status[k] != want {
				t.Errorf("status %s = %q, want %q", k, status[k], want)
			}
		}

		_, rs = rows(t, db, "SHOW CONFIG")
		conf := map[string]string{}
		for _, r := range rs {
			conf[r[0]] = r[1]
			if strings.Contains(strings.ToLower(r[0]), "password") && r[1] != "*****" && r[1] != "" {
				t.Errorf("SHOW CONFIG leaks %s = %q", r[0], r[1])
			}
		}
		if conf["servers[1].address"] != sb.Nodes[1].Addr || conf["admin.users[0].password"] != "*****" || conf["users[0].name"] != "app" {
			t.Errorf("config rows: servers[1].address=%q admin password=%q", conf["servers[1].address"], conf["admin.users[0].password"])
		}
		if _, rs := rows(t, db, "SHOW CONFIG LIKE 'health.%'"); len(rs) < 3 {
			t.Errorf("SHOW CONFIG LIKE 'health.%%': %v", rs)
		}

		cols, rs := rows(t, db, "HELP")
		if strings.Join(cols, " ") != "command description" || len(rs) < 10 {
			t.Errorf("HELP: %v %v", cols, rs)
		}
	})

	t.Run("ReloadConfig", func(t *testing.T) {
		calls := 0
		e.reload = func() error { calls++; return nil }
		if _, err := db.Exec("RELOAD CONFIG"); err != nil || calls != 1 {
			t.Fatalf("reload: %v, calls %d", err, calls)
		}
		e.reload = func() error {
			return errors.New(`x.yaml:12: servers[1].promotion: "sometimes" is not one of prefer|neutral|never`)
		}
		me := mysqlErr(t, db, "reload config;")
		if !strings.Contains(me.Message, `x.yaml:12: servers[1].promotion: "sometimes"`) {
			t.Errorf("reload error %v", me)
		}
	})

	t.Run("UnknownAndMalformed", func(t *testing.T) {
		for _, q := range []string{"xyz", "SELECT * FROM mysql.user", "DROP DATABASE test", "SHOW SERVERS LIKE", "SET SERVR 'db1' OFFLINE"} {
			me := mysqlErr(t, db, q)
			if me.Number != 1064 || !strings.Contains(me.Message, "HELP") {
				t.Errorf("%s: %v", q, me)
			}
		}
		// The connection is still usable.
		if _, rs := rows(t, db, "SHOW SERVERS"); len(rs) != 3 {
			t.Fatal("admin port stopped answering after errors")
		}
	})

	t.Run("ServerGoesDown", func(t *testing.T) {
		if err := sb.Kill("db3"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "db3 down in SHOW SERVERS", func() bool {
			_, rs := rows(t, db, "SHOW SERVERS LIKE 'db3'")
			return rs[0][4] == "down" && rs[0][5] == "NULL"
		})
	})
}

// TestClientProbes checks what GUI clients and drivers send on connect.
func TestClientProbes(t *testing.T) {
	e := startAdmin(t, testConfig(), testView())
	db := e.db(t, "admin", "admin")
	for q, want := range map[string]string{
		"SELECT @@version_comment LIMIT 1":          "[[Switchyard admin port]]",
		"select @@version":                          "[[8.0.11-switchyard-test]]",
		"SELECT DATABASE()":                         "[[NULL]]",
		"SELECT 1":                                  "[[1]]",
		"SELECT @@max_allowed_packet, @@autocommit": "[[16777216 1]]",
		"SELECT @@version_comment LIMIT 0":          "[]",
		"SHOW DATABASES":                            "[]",
		"SHOW VARIABLES LIKE 'version_comment'":     "[[version_comment Switchyard admin port]]",
		"SELECT USER()":                             "[[admin@127.0.0.1]]",
	} {
		_, rs := rows(t, db, q)
		if got := fmt.Sprint(rs); got != want {
			t.Errorf("%s: %s, want %s", q, got, want)
		}
	}
	for _, q := range []string{"SET NAMES utf8mb4", "SET autocommit=1", "SET @@session.sql_mode = ''", "USE foo"} {
		if _, err := db.Exec(q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	if err := db.Ping(); err != nil {
		t.Errorf("ping: %v", err)
	}
	if _, err := db.Query("SHOW SERVERS LIKE ?", "db1"); err == nil {
		t.Error("a prepared statement was accepted")
	}
	// A bare "help" is the CLI's own; "help admin" reaches the server.
	lines, err := e.cli(t, "admin", "admin", "SELECT @@version_comment LIMIT 1; help admin")
	if err == nil && len(lines) > 0 {
		// The CLI sends both statements separately; nothing here is multi-statement.
		if lines[0] != "Switchyard admin port" || !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "SHOW SERVERS") }) {
			t.Errorf("cli: %q", lines)
		}
	} else {
		t.Errorf("cli: %v %q", err, lines)
	}
}
