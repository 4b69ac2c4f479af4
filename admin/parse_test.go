package admin

import (
	"strings"
	"testing"

	"github.com/switchyard/switchyard/topology"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		q    string
		want command // limit defaults to -1 below when zero and no LIMIT given
	}{
		{"SHOW SERVERS", command{kind: cmdShowServers}},
		{"show servers;", command{kind: cmdShowServers}},
		{"  Show\n\tServers  ;  ", command{kind: cmdShowServers}},
		{"SHOW SERVERS;;", command{kind: cmdShowServers}},
		{"/* gui */ SHOW SERVERS -- trailing\n", command{kind: cmdShowServers}},
		{"SHOW SERVERS # comment", command{kind: cmdShowServers}},
		{"SHOW SERVERS LIKE 'db%'", command{kind: cmdShowServers, like: "db%", has: true}},
		{`SHOW SERVERS LIKE "db\_1"`, command{kind: cmdShowServers, like: `db\_1`, has: true}},
		{"SHOW SERVERS LIMIT 2", command{kind: cmdShowServers, limit: 2}},
		{"SHOW SERVERS LIKE 'x' LIMIT 0", command{kind: cmdShowServers, like: "x", has: true, limit: 0}},
		{"SHOW POOLS", command{kind: cmdShowPools}},
		{"SHOW CLIENTS LIKE 'app'", command{kind: cmdShowClients, like: "app", has: true}},
		{"SHOW QUERY DIGESTS LIMIT 10", command{kind: cmdShowDigests, limit: 10}},
		{"show query   digests", command{kind: cmdShowDigests}},
		{"SHOW EVENTS", command{kind: cmdShowEvents}},
		{"SHOW STATUS LIKE 'client%'", command{kind: cmdShowStatus, like: "client%", has: true}},
		{"SHOW CONFIG", command{kind: cmdShowConfig}},
		{"KILL CLIENT 42", command{kind: cmdKillClient, id: 42}},
		{"kill client 18446744073709551615;", command{kind: cmdKillClient, id: 18446744073709551615}},
		{"SET SERVER 'db2' OFFLINE", command{kind: cmdSetServer, name: "db2", state: topology.AdminOffline}},
		{"set server db2 online", command{kind: cmdSetServer, name: "db2", state: topology.AdminOnline}},
		{"SET SERVER `db-3` DRAIN;", command{kind: cmdSetServer, name: "db-3", state: topology.AdminDrain}},
		{`SET SERVER "it's" DRAIN`, command{kind: cmdSetServer, name: "it's", state: topology.AdminDrain}},
		{"SWITCHOVER", command{kind: cmdSwitchover}},
		{"SWITCHOVER TO 'db3'", command{kind: cmdSwitchover, name: "db3"}},
		{"failover to db2;", command{kind: cmdFailover, name: "db2"}},
		{"FAILOVER", command{kind: cmdFailover}},
		{"RELOAD CONFIG", command{kind: cmdReload}},
		{"RESET QUERY DIGESTS", command{kind: cmdResetDigests}},
		{"help", command{kind: cmdHelp}},
		{"HELP;", command{kind: cmdHelp}},
		{"help 'admin'", command{kind: cmdHelp}},
		{"SHOW DATABASES", command{kind: cmdShowDatabases}},
		{"SHOW WARNINGS", command{kind: cmdShowWarnings}},
		{"SHOW VARIABLES LIKE 'version%'", command{kind: cmdShowVariables, like: "version%", has: true}},
		{"SHOW SESSION VARIABLES", command{kind: cmdShowVariables}},
		{"SET NAMES utf8mb4 COLLATE utf8mb4_general_ci", command{kind: cmdSetSession}},
		{"SET autocommit=1", command{kind: cmdSetSession}},
		{"SET SESSION sql_mode = 'ANSI'", command{kind: cmdSetSession}},
		{"SET @@session.autocommit = ON", command{kind: cmdSetSession}},
		{"SET CHARACTER SET utf8", command{kind: cmdSetSession}},
		{"USE information_schema", command{kind: cmdUse}},
	}
	for _, tc := range tests {
		got, err := parseCommand(tc.q)
		if err != nil {
			t.Errorf("%q: %v", tc.q, err)
			continue
		}
		want := tc.want
		if !strings.Contains(strings.ToUpper(tc.q), "LIMIT") {
			want.limit = -1
		}
		if got.kind != want.kind || got.like != want.like || got.has != want.has || got.limit != want.limit ||
			got.name != want.name || got.state != want.state || got.id != want.id {
			t.Errorf("%q: got %+v, want %+v", tc.q, *got, want)
		}
	}
}

func TestParseSelectProbe(t *testing.T) {
	c, err := parseCommand("select @@version_comment limit 1")
	if err != nil {
		t.Fatal(err)
	}
	if c.kind != cmdSelect || len(c.items) != 1 || c.items[0].expr != "VERSION_COMMENT" || c.items[0].alias != "@@version_comment" || c.limit != 1 {
		t.Fatalf("got %+v", c)
	}
	c, err = parseCommand("SELECT @@session.auto_increment_increment AS inc, DATABASE(), 1, 'x' AS s")
	if err != nil {
		t.Fatal(err)
	}
	var aliases []string
	for _, it := range c.items {
		aliases = append(aliases, it.alias)
	}
	if got := strings.Join(aliases, "|"); got != "inc|DATABASE()|1|s" {
		t.Fatalf("aliases %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ q, want string }{
		{"", "Empty admin command"},
		{" ; ", "Empty admin command"},
		{"SHOW", "Unknown admin command 'SHOW'"},
		{"SELECT 1 AS", "Incomplete admin command 'SELECT 1 AS'"},
		{"xyz", "Unknown admin command 'xyz'"},
		{"SHOW TABLES", "Unknown admin command 'SHOW TABLES'"},
		{"SHOW SERVERS EXTRA", "Unexpected 'EXTRA'"},
		{"SHOW SERVERS; SHOW POOLS", "Unexpected ';'"},
		{"SHOW SERVERS LIKE db", "LIKE needs a quoted pattern"},
		{"SHOW SERVERS LIMIT -1", "LIMIT needs a non-negative number"},
		{"SHOW SERVERS LIMIT x", "LIMIT needs"},
		{"KILL CLIENT abc", "numeric client id"},
		{"KILL 3", "Unknown admin command"},
		{"SET SERVER 'db1'", "needs OFFLINE, ONLINE or DRAIN"},
		{"SET SERVER 'db1' BANANA", "needs OFFLINE, ONLINE or DRAIN"},
		{"SET SERVR 'db1' OFFLINE", "Unknown admin command"}, // a typo is never silently accepted
		{"SET GLOBAL read_only = 1", "Unknown admin command"},
		{"SWITCHOVER TO", "TO needs a server name"},
		{"SWITCHOVER db2", "Unexpected 'db2'"},
		{"RELOAD", "Unknown admin command"},
		{"SHOW SERVERS LIKE 'unterminated", "Unterminated quoted string"},
		{"/* open", "Unterminated comment"},
		{"SELECT * FROM t", "Unknown admin command"},
		{"DROP TABLE x", "Unknown admin command"},
		{"SELECT @", "Variable name missing"},
		{strings.Repeat("a ", 1000), "too long"},
	}
	for _, tc := range tests {
		_, err := parseCommand(tc.q)
		if err == nil {
			t.Errorf("%q: parsed, want error containing %q", tc.q, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.HasSuffix(err.Error(), "Type HELP for the list of commands.") {
			t.Errorf("%q: error %q, want it to contain %q and point to HELP", tc.q, err, tc.want)
		}
	}
}

func TestLike(t *testing.T) {
	tests := []struct {
		s, p string
		want bool
	}{
		{"db1", "db1", true},
		{"db1", "DB1", true},
		{"db1", "db%", true},
		{"db1", "%1", true},
		{"db1", "%", true},
		{"", "%", true},
		{"", "", true},
		{"db1", "", false},
		{"db1", "d_1", true},
		{"db1", "d_", false},
		{"db12", "db_", false},
		{"db_1", `db\_1`, true},
		{"dbx1", `db\_1`, false},
		{"100%", `100\%`, true},
		{"1000", `100\%`, false},
		{"client_auth_failures", "client%fail%", true},
		{"client_auth_failures", "%a%b%", false},
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "%a%a%a%a%a%a%a%c", false},
		{"ünïcode", "_n_code", true},
	}
	for _, tc := range tests {
		if got := like(tc.s, tc.p); got != tc.want {
			t.Errorf("like(%q, %q) = %v, want %v", tc.s, tc.p, got, tc.want)
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"SHOW SERVERS LIKE 'db%' LIMIT 3;", "SET SERVER 'db1' OFFLINE", "KILL CLIENT 7",
		"SELECT @@version_comment LIMIT 1", "SWITCHOVER TO `db2`", "/* x */ HELP -- y",
		`SHOW QUERY DIGESTS LIKE "a\'b"`, "SET NAMES utf8", "SELECT DATABASE(), 1, 'x' AS y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		c, err := parseCommand(q)
		if (c == nil) == (err == nil) {
			t.Fatalf("%q: command %v and error %v", q, c, err)
		}
		if err != nil && !strings.Contains(err.Error(), "HELP") {
			t.Fatalf("%q: error %q does not point to HELP", q, err)
		}
	})
}
