package routing

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/gtid"
	"github.com/switchyard/switchyard/topology"
)

// server builds a healthy, eligible server in dc1.
func server(name string, role topology.Role, mods ...func(*topology.Server)) topology.Server {
	s := topology.Server{Name: name, Datacenter: "dc1", Weight: 100, Reachable: true, Role: role, LagEligible: true}
	for _, m := range mods {
		m(&s)
	}
	return s
}

func lag(ms int64, eligible bool) func(*topology.Server) {
	return func(s *topology.Server) { s.LagMs, s.LagEligible = ms, eligible }
}
func dc(d string) func(*topology.Server)  { return func(s *topology.Server) { s.Datacenter = d } }
func weight(w int) func(*topology.Server) { return func(s *topology.Server) { s.Weight = w } }
func unreachable() func(*topology.Server) { return func(s *topology.Server) { s.Reachable = false } }
func admin(a topology.AdminState) func(*topology.Server) {
	return func(s *topology.Server) { s.Admin = a }
}
func applied(pos string) func(*topology.Server) {
	return func(s *topology.Server) {
		set, err := gtid.ParseMariaDB(pos)
		if err != nil {
			panic(err)
		}
		s.GTID = set
	}
}

// cluster is db1 primary, db2 and db3 replicas, with per-server changes.
func cluster(mods map[string][]func(*topology.Server)) *topology.Snapshot {
	return &topology.Snapshot{Primary: "db1", Servers: []topology.Server{
		server("db1", topology.RolePrimary, append([]func(*topology.Server){applied("0-1-100")}, mods["db1"]...)...),
		server("db2", topology.RoleReplica, append([]func(*topology.Server){applied("0-1-100")}, mods["db2"]...)...),
		server("db3", topology.RoleReplica, append([]func(*topology.Server){applied("0-1-100")}, mods["db3"]...)...),
	}}
}

func testConfig(mod func(*config.Config)) *config.Config {
	cfg := config.Default()
	cfg.Servers = []config.Server{{Name: "db1", Weight: 100}, {Name: "db2", Weight: 100}, {Name: "db3", Weight: 100}}
	cfg.Users = []config.User{{Name: "app"}, {Name: "report", DefaultRoute: "replica"}, {Name: "admin", DefaultRoute: "primary"}}
	if mod != nil {
		mod(cfg)
	}
	return cfg
}

func mustRouter(t *testing.T, mod func(*config.Config)) *Router {
	t.Helper()
	r, err := NewRouter(testConfig(mod))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func gtidOf(s string) gtid.GTID {
	g, err := gtid.ParseGTID(s)
	if err != nil {
		panic(err)
	}
	return g
}

func TestDecide(t *testing.T) {
	replicas := "db2|db3"
	cases := []struct {
		name  string
		cfg   func(*config.Config)
		sql   string
		sess  SessionInput
		mods  map[string][]func(*topology.Server)
		load  map[string]int
		noPri bool   // snapshot without a primary
		want  string // acceptable servers, '|'-separated; "" = none
		route Route
		pri   bool
		wait  bool
		err   error
	}{
		{name: "write to primary", sql: "UPDATE t SET a = 1", want: "db1", route: RoutePrimary, pri: true},
		{name: "read to a replica", sql: "SELECT 1", want: replicas, route: RouteReplica},
		{name: "locking read to primary", sql: "SELECT * FROM t FOR UPDATE", want: "db1", route: RoutePrimary, pri: true},
		{name: "session-dependent read to primary", sql: "SELECT FOUND_ROWS()", want: "db1", route: RoutePrimary, pri: true},
		{name: "server-specific read to primary", sql: "SHOW MASTER STATUS", want: "db1", route: RoutePrimary, pri: true},
		{name: "user lock to primary", sql: "SELECT GET_LOCK('a', 1)", want: "db1", route: RoutePrimary, pri: true},
		{name: "var assignment to primary", sql: "SELECT @a := 1", want: "db1", route: RoutePrimary, pri: true},
		{name: "user var read to replica", sql: "SELECT @a", want: replicas, route: RouteReplica},
		{name: "set to primary", sql: "SET autocommit = 0", want: "db1", route: RoutePrimary, pri: true},
		{name: "call to primary", sql: "CALL p()", want: "db1", route: RoutePrimary, pri: true},
		{name: "execute to primary", sql: "EXECUTE s", want: "db1", route: RoutePrimary, pri: true},
		{name: "unknown to primary", sql: "FROB 1", want: "db1", route: RoutePrimary, pri: true},
		{name: "read multi to replica", sql: "SELECT 1; SELECT 2", want: replicas, route: RouteReplica},
		{name: "read+write multi to primary", sql: "SELECT 1; DELETE FROM t", want: "db1", route: RoutePrimary, pri: true},
		{name: "lagging replica skipped", sql: "SELECT 1", mods: map[string][]func(*topology.Server){"db2": {lag(5000, false)}}, want: "db3", route: RouteReplica},
		{name: "unknown lag skipped", sql: "SELECT 1", mods: map[string][]func(*topology.Server){"db2": {lag(-1, true)}}, want: "db3", route: RouteReplica},
		{name: "unreachable skipped", sql: "SELECT 1", mods: map[string][]func(*topology.Server){"db3": {unreachable()}}, want: "db2", route: RouteReplica},
		{name: "offline skipped", sql: "SELECT 1", mods: map[string][]func(*topology.Server){"db3": {admin(topology.AdminOffline)}}, want: "db2", route: RouteReplica},
		{name: "drain skipped", sql: "SELECT 1", mods: map[string][]func(*topology.Server){"db2": {admin(topology.AdminDrain)}}, want: "db3", route: RouteReplica},
		{name: "weight 0 skipped", sql: "SELECT 1", mods: map[string][]func(*topology.Server){"db2": {weight(0)}}, want: "db3", route: RouteReplica},
		{name: "fenced skipped", sql: "SELECT 1", mods: map[string][]func(*topology.Server){"db2": {func(s *topology.Server) { s.Role = topology.RoleFenced }}}, want: "db3", route: RouteReplica},
		{name: "unknown role skipped", sql: "SELECT 1", mods: map[string][]func(*topology.Server){"db3": {func(s *topology.Server) { s.Role = topology.RoleUnknown }}}, want: "db2", route: RouteReplica},
		{name: "least load", sql: "SELECT 1", load: map[string]int{"db2": 5, "db3": 1}, want: "db3", route: RouteReplica},
		{name: "weight scales load", sql: "SELECT 1", mods: map[string][]func(*topology.Server){"db2": {weight(300)}}, load: map[string]int{"db2": 2, "db3": 1}, want: "db2", route: RouteReplica},
		{name: "own datacenter preferred over load", cfg: func(c *config.Config) { c.Datacenter = "dc2" },
			sql: "SELECT 1", mods: map[string][]func(*topology.Server){"db3": {dc("dc2")}}, load: map[string]int{"db3": 50}, want: "db3", route: RouteReplica},
		{name: "other datacenter when own has none", cfg: func(c *config.Config) { c.Datacenter = "dc2" },
			sql: "SELECT 1", mods: map[string][]func(*topology.Server){"db3": {dc("dc2"), lag(9000, false)}}, want: "db2", route: RouteReplica},
		{name: "all replicas down: primary", sql: "SELECT 1", mods: map[string][]func(*topology.Server){"db2": {unreachable()}, "db3": {lag(5000, false)}}, want: "db1", route: RoutePrimary},
		{name: "all replicas down: fallback error", cfg: func(c *config.Config) { c.Routing.Fallback = "error" },
			sql: "SELECT 1", mods: map[string][]func(*topology.Server){"db2": {unreachable()}, "db3": {unreachable()}}, want: "", route: RouteReplica, err: ErrNoReplica},
		{name: "fallback error does not affect writes", cfg: func(c *config.Config) { c.Routing.Fallback = "error" },
			sql: "DELETE FROM t", mods: map[string][]func(*topology.Server){"db2": {unreachable()}, "db3": {unreachable()}}, want: "db1", route: RoutePrimary, pri: true},
		{name: "no primary: write waits", sql: "INSERT INTO t VALUES (1)", noPri: true, want: "", route: RoutePrimary, pri: true},
		{name: "no primary: read still on replica", sql: "SELECT 1", noPri: true, want: replicas, route: RouteReplica},
		{name: "no primary, no replica: read waits", sql: "SELECT 1", noPri: true, mods: map[string][]func(*topology.Server){"db2": {unreachable()}, "db3": {unreachable()}}, want: "", route: RoutePrimary, pri: true},

		// read-your-writes
		{name: "ryw: covering replica", sql: "SELECT 1", sess: SessionInput{HasGTID: true, LastGTID: gtidOf("0-1-105")},
			mods: map[string][]func(*topology.Server){"db2": {applied("0-1-104")}, "db3": {applied("0-1-105")}}, want: "db3", route: RouteReplica},
		{name: "ryw: covering replica preferred over own dc", cfg: func(c *config.Config) { c.Datacenter = "dc2" }, sql: "SELECT 1", sess: SessionInput{HasGTID: true, LastGTID: gtidOf("0-1-105")},
			mods: map[string][]func(*topology.Server){"db2": {applied("0-1-104"), dc("dc2")}, "db3": {applied("0-1-200")}}, want: "db3", route: RouteReplica},
		{name: "ryw: none covers: wait on a replica", sql: "SELECT 1", sess: SessionInput{HasGTID: true, LastGTID: gtidOf("0-1-105")},
			mods: map[string][]func(*topology.Server){"db2": {applied("0-1-104")}, "db3": {applied("0-1-104")}}, want: replicas, route: RouteReplica, wait: true},
		{name: "ryw: other domain does not cover", sql: "SELECT 1", sess: SessionInput{HasGTID: true, LastGTID: gtidOf("1-1-5")},
			mods: map[string][]func(*topology.Server){"db2": {applied("0-1-999")}, "db3": {applied("0-1-999,1-1-5")}}, want: "db3", route: RouteReplica},
		{name: "ryw: none covers, no wait: primary", cfg: func(c *config.Config) { c.Routing.RYWWait = 0 }, sql: "SELECT 1",
			sess: SessionInput{HasGTID: true, LastGTID: gtidOf("0-1-105")}, want: "db1", route: RoutePrimary},
		{name: "ryw: none covers, fallback error still reads primary", cfg: func(c *config.Config) { c.Routing.RYWWait = 0; c.Routing.Fallback = "error" }, sql: "SELECT 1",
			sess: SessionInput{HasGTID: true, LastGTID: gtidOf("0-1-105")}, want: "db1", route: RoutePrimary},
		{name: "ryw: waits only on otherwise qualifying replicas", sql: "SELECT 1", sess: SessionInput{HasGTID: true, LastGTID: gtidOf("0-1-105")},
			mods: map[string][]func(*topology.Server){"db2": {lag(3000, false)}}, want: "db3", route: RouteReplica, wait: true},
		{name: "ryw off", cfg: func(c *config.Config) { c.Routing.ReadYourWrites = "off" }, sql: "SELECT 1",
			sess: SessionInput{HasGTID: true, LastGTID: gtidOf("0-1-105")}, want: replicas, route: RouteReplica},
		{name: "ryw global uses the same input", cfg: func(c *config.Config) { c.Routing.ReadYourWrites = "global" }, sql: "SELECT 1",
			sess: SessionInput{HasGTID: true, LastGTID: gtidOf("0-1-101")}, mods: map[string][]func(*topology.Server){"db2": {applied("0-1-101")}}, want: "db2", route: RouteReplica},
		{name: "ryw: session without writes", sql: "SELECT 1", sess: SessionInput{LastGTID: gtidOf("0-1-105")}, want: replicas, route: RouteReplica},

		// hints
		{name: "hint primary on read", sql: "/* switchyard: route=primary */ SELECT 1", want: "db1", route: RoutePrimary},
		{name: "hint replica cannot move a write", sql: "/* switchyard: route=replica */ DELETE FROM t", want: "db1", route: RoutePrimary, pri: true},
		{name: "hint replica skips ryw", sql: "/* switchyard: route=replica */ SELECT 1", sess: SessionInput{HasGTID: true, LastGTID: gtidOf("0-1-105")},
			want: replicas, route: RouteReplica},
		{name: "hint max_lag admits a replica health excluded", sql: "/* switchyard: max_lag=5s */ SELECT 1",
			mods: map[string][]func(*topology.Server){"db2": {lag(3000, false)}, "db3": {unreachable()}}, want: "db2", route: RouteReplica},
		{name: "hint max_lag excludes a replica health admits", sql: "/* switchyard: max_lag=100ms */ SELECT 1",
			mods: map[string][]func(*topology.Server){"db2": {lag(300, true)}, "db3": {lag(50, true)}}, want: "db3", route: RouteReplica},
		{name: "hint max_lag never admits unknown lag", sql: "/* switchyard: max_lag=5s */ SELECT 1",
			mods: map[string][]func(*topology.Server){"db2": {lag(-1, false)}, "db3": {lag(-1, true)}}, want: "db1", route: RoutePrimary},
		{name: "hint beats user default", sql: "/* switchyard: route=primary */ SELECT 1", sess: SessionInput{User: "report"}, want: "db1", route: RoutePrimary},

		// rules
		{name: "rule regexp to primary", cfg: func(c *config.Config) {
			c.Routing.Rules = []config.Rule{{Match: `(?i)FROM\s+accounts`, Route: "primary"}}
		}, sql: "SELECT * FROM accounts WHERE id = 1", want: "db1", route: RoutePrimary},
		{name: "rule not matching", cfg: func(c *config.Config) {
			c.Routing.Rules = []config.Rule{{Match: `(?i)FROM\s+accounts`, Route: "primary"}}
		}, sql: "SELECT * FROM orders", want: replicas, route: RouteReplica},
		{name: "rule to replica cannot move a write", cfg: func(c *config.Config) {
			c.Routing.Rules = []config.Rule{{Match: `.`, Route: "replica"}}
		}, sql: "UPDATE t SET a = 1", want: "db1", route: RoutePrimary, pri: true},
		{name: "rule by digest", cfg: func(c *config.Config) {
			c.Routing.Rules = []config.Rule{{Digest: "SELECT * FROM t WHERE id = ?", Route: "primary"}}
		}, sql: "select *  from t where id=42", want: "db1", route: RoutePrimary},
		{name: "rule by digest not matching", cfg: func(c *config.Config) {
			c.Routing.Rules = []config.Rule{{Digest: "SELECT * FROM t WHERE id = ?", Route: "primary"}}
		}, sql: "SELECT * FROM t WHERE id = 42 AND x = 1", want: replicas, route: RouteReplica},
		{name: "rule digest and match both required", cfg: func(c *config.Config) {
			c.Routing.Rules = []config.Rule{{Digest: "SELECT * FROM t WHERE id = ?", Match: "id = 7", Route: "primary"}}
		}, sql: "SELECT * FROM t WHERE id = 8", want: replicas, route: RouteReplica},
		{name: "rule user filter", cfg: func(c *config.Config) {
			c.Routing.Rules = []config.Rule{{Match: `.`, User: "admin2", Route: "primary"}}
		}, sql: "SELECT 1", sess: SessionInput{User: "app"}, want: replicas, route: RouteReplica},
		{name: "rule user filter matching", cfg: func(c *config.Config) {
			c.Routing.Rules = []config.Rule{{Match: `.`, User: "app", Route: "primary"}}
		}, sql: "SELECT 1", sess: SessionInput{User: "app"}, want: "db1", route: RoutePrimary},
		{name: "first rule wins", cfg: func(c *config.Config) {
			c.Routing.Rules = []config.Rule{{Match: `t`, Route: "primary"}, {Match: `.`, Route: "replica"}}
		}, sql: "SELECT 1 FROM t", want: "db1", route: RoutePrimary},
		{name: "rule to group", cfg: func(c *config.Config) {
			c.Routing.Groups = map[string][]string{"reports": {"db3"}}
			c.Routing.Rules = []config.Rule{{Match: `report`, Route: "group:reports"}}
		}, sql: "SELECT * FROM report", want: "db3", route: RouteGroup},
		{name: "group may hold the primary", cfg: func(c *config.Config) {
			c.Routing.Groups = map[string][]string{"g": {"db1", "db3"}}
			c.Routing.Rules = []config.Rule{{Match: `.`, Route: "group:g"}}
		}, sql: "SELECT 1", mods: map[string][]func(*topology.Server){"db3": {unreachable()}}, want: "db1", route: RouteGroup},
		{name: "group members down: fallback primary", cfg: func(c *config.Config) {
			c.Routing.Groups = map[string][]string{"g": {"db3"}}
			c.Routing.Rules = []config.Rule{{Match: `.`, Route: "group:g"}}
		}, sql: "SELECT 1", mods: map[string][]func(*topology.Server){"db3": {lag(5000, false)}}, want: "db1", route: RoutePrimary},
		{name: "group members down: fallback error", cfg: func(c *config.Config) {
			c.Routing.Fallback = "error"
			c.Routing.Groups = map[string][]string{"g": {"db3"}}
			c.Routing.Rules = []config.Rule{{Match: `.`, Route: "group:g"}}
		}, sql: "SELECT 1", mods: map[string][]func(*topology.Server){"db3": {unreachable()}}, want: "", route: RouteGroup, err: ErrNoReplica},
		{name: "group rule cannot move a write", cfg: func(c *config.Config) {
			c.Routing.Groups = map[string][]string{"g": {"db3"}}
			c.Routing.Rules = []config.Rule{{Match: `.`, Route: "group:g"}}
		}, sql: "INSERT INTO t VALUES (1)", want: "db1", route: RoutePrimary, pri: true},

		// per-user default routes
		{name: "user primary: reads to primary", sql: "SELECT 1", sess: SessionInput{User: "admin"}, want: "db1", route: RoutePrimary},
		{name: "user replica: reads to replica", sql: "SELECT 1", sess: SessionInput{User: "report"}, want: replicas, route: RouteReplica},
		{name: "user replica: writes to primary", sql: "INSERT INTO t VALUES (1)", sess: SessionInput{User: "report"}, want: "db1", route: RoutePrimary, pri: true},
		{name: "user replica: no ryw", sql: "SELECT 1", sess: SessionInput{User: "report", HasGTID: true, LastGTID: gtidOf("0-1-500")}, want: replicas, route: RouteReplica},
		{name: "user replica: fallback applies", sql: "SELECT 1", sess: SessionInput{User: "report"},
			mods: map[string][]func(*topology.Server){"db2": {unreachable()}, "db3": {unreachable()}}, want: "db1", route: RoutePrimary},
		{name: "rule beats user default", cfg: func(c *config.Config) {
			c.Routing.Rules = []config.Rule{{Match: `.`, Route: "replica"}}
		}, sql: "SELECT 1", sess: SessionInput{User: "admin"}, want: replicas, route: RouteReplica},

		// transactions
		{name: "tx pinned server", sql: "SELECT 1", sess: SessionInput{InTx: true, TxServer: "db3"}, want: "db3", route: RouteReplica},
		{name: "tx pinned primary", sql: "SELECT 1", sess: SessionInput{InTx: true, TxServer: "db1"}, want: "db1", route: RoutePrimary},
		{name: "tx pinned beats hint", sql: "/* switchyard: route=primary */ SELECT 1", sess: SessionInput{InTx: true, TxServer: "db2"}, want: "db2", route: RouteReplica},
		{name: "read-write tx read goes to primary", sql: "SELECT 1", sess: SessionInput{InTx: true}, want: "db1", route: RoutePrimary, pri: true},
		{name: "autocommit off: read goes to primary", sql: "SELECT 1", sess: SessionInput{NoAutocommit: true}, want: "db1", route: RoutePrimary, pri: true},
		{name: "autocommit off ignores replica hint", sql: "/* switchyard: route=replica */ SELECT 1", sess: SessionInput{NoAutocommit: true}, want: "db1", route: RoutePrimary, pri: true},
		{name: "autocommit off: read-only tx may use a replica", sql: "START TRANSACTION READ ONLY", sess: SessionInput{NoAutocommit: true}, want: replicas, route: RouteReplica},
		{name: "read-write tx ignores replica hint", sql: "/* switchyard: route=replica */ SELECT 1", sess: SessionInput{InTx: true}, want: "db1", route: RoutePrimary, pri: true},
		{name: "read-only tx read to replica", sql: "SELECT 1", sess: SessionInput{InTx: true, TxReadOnly: true}, want: replicas, route: RouteReplica},
		{name: "read-only tx write to primary", sql: "UPDATE t SET a = 1", sess: SessionInput{InTx: true, TxReadOnly: true}, want: "db1", route: RoutePrimary, pri: true},
		{name: "start transaction read only to replica", sql: "START TRANSACTION READ ONLY", want: replicas, route: RouteReplica},
		{name: "start transaction read only honours ryw", sql: "START TRANSACTION READ ONLY", sess: SessionInput{HasGTID: true, LastGTID: gtidOf("0-1-101")},
			mods: map[string][]func(*topology.Server){"db3": {applied("0-1-101")}}, want: "db3", route: RouteReplica},
		{name: "start transaction read only follows hints", sql: "/* switchyard: route=primary */ START TRANSACTION READ ONLY", want: "db1", route: RoutePrimary},
		{name: "start transaction read only follows user default", sql: "START TRANSACTION READ ONLY", sess: SessionInput{User: "admin"}, want: "db1", route: RoutePrimary},
		{name: "begin to primary", sql: "BEGIN", want: "db1", route: RoutePrimary, pri: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := mustRouter(t, c.cfg)
			snap := cluster(c.mods)
			if c.noPri {
				snap.Primary = ""
				snap.Servers[0].Role = topology.RoleUnknown
			}
			var load func(string) int
			if c.load != nil {
				load = func(s string) int { return c.load[s] }
			}
			sql := []byte(c.sql)
			// several calls: rotation must never pick outside the allowed set
			for i := 0; i < 6; i++ {
				d := r.Decide(Classify(sql), sql, &c.sess, snap, load)
				ok := false
				for _, w := range strings.Split(c.want, "|") {
					ok = ok || d.Server == w
				}
				if !ok || d.Route != c.route || d.Primary != c.pri || d.WaitGTID != c.wait || !errors.Is(d.Err, c.err) {
					t.Fatalf("Decide(%q) = %+v; want server %q route %v primary %v wait %v err %v",
						c.sql, d, c.want, c.route, c.pri, c.wait, c.err)
				}
			}
		})
	}
}

// Equal candidates share the reads evenly.
func TestDecideRotatesTies(t *testing.T) {
	r := mustRouter(t, nil)
	snap := cluster(nil)
	snap.Servers = append(snap.Servers, server("db4", topology.RoleReplica))
	sql := []byte("SELECT 1")
	seen := map[string]int{}
	for i := 0; i < 300; i++ {
		seen[r.Decide(Classify(sql), sql, &SessionInput{}, snap, nil).Server]++
	}
	for _, s := range []string{"db2", "db3", "db4"} {
		if seen[s] != 100 {
			t.Errorf("replica %s got %d of 300 reads: %v", s, seen[s], seen)
		}
	}
	if seen["db1"] != 0 {
		t.Errorf("primary got reads: %v", seen)
	}
}

// A replica that recovers is used again without any reset: Decide only
// looks at the snapshot it is given.
func TestDecideReturnsToRecoveredReplica(t *testing.T) {
	r := mustRouter(t, nil)
	sql := []byte("SELECT 1")
	down := cluster(map[string][]func(*topology.Server){"db2": {unreachable()}, "db3": {lag(4000, false)}})
	if d := r.Decide(Classify(sql), sql, &SessionInput{}, down, nil); d.Server != "db1" {
		t.Fatalf("all replicas down: %+v", d)
	}
	up := cluster(nil)
	if d := r.Decide(Classify(sql), sql, &SessionInput{}, up, nil); d.Route != RouteReplica {
		t.Fatalf("replicas back: %+v", d)
	}
}

func TestDecideAllocs(t *testing.T) {
	r := mustRouter(t, func(c *config.Config) {
		c.Datacenter = "dc1"
		c.Routing.Rules = []config.Rule{{Digest: "SELECT * FROM x", Route: "primary"}, {Match: `accounts`, User: "app", Route: "primary"}}
	})
	snap := cluster(nil)
	load := func(string) int { return 1 }
	for _, q := range []string{"SELECT * FROM t WHERE id = 1", "UPDATE t SET a = 1", "/* switchyard: max_lag=1s */ SELECT 1"} {
		sql := []byte(q)
		c := Classify(sql)
		s := &SessionInput{User: "app", HasGTID: true, LastGTID: gtidOf("0-1-100")}
		if n := testing.AllocsPerRun(200, func() { r.Decide(c, sql, s, snap, load) }); n != 0 {
			t.Errorf("Decide(%q) allocates %v times", q, n)
		}
	}
}

func TestNewRouter(t *testing.T) {
	r := mustRouter(t, func(c *config.Config) {
		c.Routing.MaxReplicaLag = config.Duration(250 * time.Millisecond)
		c.Routing.ReadYourWrites = "global"
		c.Routing.RYWWait = config.Duration(20 * time.Millisecond)
		c.Routing.Fallback = "error"
	})
	if r.MaxLag() != 250*time.Millisecond || r.RYWMode() != RYWGlobal || r.RYWWait() != 20*time.Millisecond || r.Fallback() != "error" {
		t.Errorf("router settings: %v %v %v %v", r.MaxLag(), r.RYWMode(), r.RYWWait(), r.Fallback())
	}
	zero, err := NewRouter(&config.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if zero.MaxLag() != DefaultMaxLag || zero.RYWMode() != RYWSession || zero.Fallback() != "primary" {
		t.Errorf("zero config: %v %v %v", zero.MaxLag(), zero.RYWMode(), zero.Fallback())
	}
	bad := []struct {
		mod  func(*config.Config)
		want string
	}{
		{func(c *config.Config) { c.Routing.ReadYourWrites = "always" }, "read_your_writes"},
		{func(c *config.Config) { c.Routing.Fallback = "replica" }, "fallback"},
		{func(c *config.Config) { c.Routing.Rules = []config.Rule{{Match: "(", Route: "primary"}} }, "routing.rules[0]"},
		{func(c *config.Config) { c.Routing.Rules = []config.Rule{{Name: "r", Match: "x", Route: "sideways"}} }, "routing.rules[0] (r)"},
		{func(c *config.Config) { c.Routing.Rules = []config.Rule{{Match: "x", Route: "group:nope"}} }, "nope"},
		{func(c *config.Config) { c.Routing.Rules = []config.Rule{{Route: "primary"}} }, "match or digest"},
		{func(c *config.Config) { c.Users[0].DefaultRoute = "sideways" }, "default_route"},
	}
	for _, b := range bad {
		_, err := NewRouter(testConfig(b.mod))
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("NewRouter error %v, want mention of %q", err, b.want)
		}
	}
}
