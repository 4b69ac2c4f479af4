package failover

import (
	"slices"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/topology"
)

func TestPromoteSQL(t *testing.T) {
	tests := []struct {
		f    topology.Flavor
		semi bool
		want []string
	}{
		{topology.FlavorMariaDB, false, []string{"STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL read_only=0"}},
		{topology.FlavorMariaDB, true, []string{"STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL rpl_semi_sync_master_enabled=1", "SET GLOBAL read_only=0"}},
		{topology.FlavorMySQL, false, []string{"STOP REPLICA", "RESET REPLICA ALL", "SET GLOBAL super_read_only=0, read_only=0"}},
	}
	for _, tt := range tests {
		if got := promoteSQL(tt.f, tt.semi); !slices.Equal(got, tt.want) {
			t.Errorf("promoteSQL(%s, %v) = %q, want %q", tt.f, tt.semi, got, tt.want)
		}
	}
}

func TestStartSQLThreadSQL(t *testing.T) {
	if got := startSQLThreadSQL(topology.FlavorMariaDB); got != "START SLAVE SQL_THREAD" {
		t.Errorf("MariaDB: %q", got)
	}
	if got := startSQLThreadSQL(topology.FlavorMySQL); got != "START REPLICA SQL_THREAD" {
		t.Errorf("MySQL: %q", got)
	}
}

func TestReadOnlySQL(t *testing.T) {
	if got := readOnlySQL(topology.FlavorMySQL, true); got != "SET GLOBAL super_read_only=1" {
		t.Errorf("MySQL on: %q", got)
	}
	if got := readOnlySQL(topology.FlavorMariaDB, true); got != "SET GLOBAL read_only=1" {
		t.Errorf("MariaDB on: %q", got)
	}
	if got := readOnlySQL(topology.FlavorUnknown, false); got != "SET GLOBAL read_only=0" {
		t.Errorf("unknown flavor off: %q", got)
	}
}

func TestRepointSQL(t *testing.T) {
	src := source{Host: "10.0.0.2", Port: 3307, Cred: config.Credentials{User: "repl", Password: `p'w\d`}}
	got := repointSQL(topology.FlavorMariaDB, src, true, false)
	want := []string{
		"STOP SLAVE",
		"SET GLOBAL gtid_slave_pos=@@gtid_current_pos",
		`CHANGE MASTER TO MASTER_HOST='10.0.0.2', MASTER_PORT=3307, MASTER_USER='repl', MASTER_PASSWORD='p\'w\\d', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=0.5`,
		"START SLAVE",
	}
	if !slices.Equal(got, want) {
		t.Errorf("MariaDB former primary:\n got %q\nwant %q", got, want)
	}
	got = repointSQL(topology.FlavorMySQL, src, true, false)
	want = []string{
		"STOP REPLICA",
		`CHANGE REPLICATION SOURCE TO SOURCE_HOST='10.0.0.2', SOURCE_PORT=3307, SOURCE_USER='repl', SOURCE_PASSWORD='p\'w\\d', SOURCE_AUTO_POSITION=1, SOURCE_CONNECT_RETRY=1, SOURCE_HEARTBEAT_PERIOD=0.5`,
		"START REPLICA",
	}
	if !slices.Equal(got, want) {
		t.Errorf("MySQL:\n got %q\nwant %q", got, want)
	}
	got = repointSQL(topology.FlavorMariaDB, src, false, true)
	if slices.Contains(got, "SET GLOBAL gtid_slave_pos=@@gtid_current_pos") {
		t.Error("a replica's slave position must not be replaced")
	}
	if !slices.Contains(got, "SET GLOBAL rpl_semi_sync_slave_enabled=1") {
		t.Errorf("semi-sync replica not enabled: %q", got)
	}
}

func TestRedact(t *testing.T) {
	src := source{Host: "h", Port: 1, Cred: config.Credentials{User: "repl", Password: `s3cr'et`}}
	for _, f := range []topology.Flavor{topology.FlavorMariaDB, topology.FlavorMySQL} {
		for _, s := range repointSQL(f, src, false, false) {
			if r := redact(s); strings.Contains(r, "s3cr") {
				t.Errorf("redact(%q) = %q still has the password", s, r)
			}
		}
	}
	// A server error quoting the statement near the password.
	msg := `Error 1064: You have an error in your SQL syntax; check the manual near 'MASTER_PASSWORD='s3cret', MASTER_USE_GTID=x' at line 1`
	if r := redact(msg); strings.Contains(r, "s3cret") || !strings.Contains(r, "*****") {
		t.Errorf("redact(%q) = %q", msg, r)
	}
	if got := redact("SET GLOBAL read_only=1"); got != "SET GLOBAL read_only=1" {
		t.Errorf("redact changed a statement without a password: %q", got)
	}
}

func TestSourceFromAddr(t *testing.T) {
	s, err := sourceFromAddr("127.0.0.1:23307", config.Credentials{User: "r"})
	if err != nil || s.Host != "127.0.0.1" || s.Port != 23307 {
		t.Errorf("sourceFromAddr = %+v, %v", s, err)
	}
	if _, err := sourceFromAddr("no-port", config.Credentials{}); err == nil {
		t.Error("address without port accepted")
	}
}

func TestAndList(t *testing.T) {
	for in, want := range map[string]string{"a": "a", "a,b": "a and b", "a,b,c": "a, b and c"} {
		if got := andList(strings.Split(in, ",")); got != want {
			t.Errorf("andList(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestWaitSQL(t *testing.T) {
	if got := waitSQL(topology.FlavorMariaDB); got != "SELECT MASTER_GTID_WAIT(?, ?)" {
		t.Errorf("MariaDB: %q", got)
	}
	if got := waitSQL(topology.FlavorMySQL); got != "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?)" {
		t.Errorf("MySQL: %q", got)
	}
}

func TestProcessFilters(t *testing.T) {
	for _, tt := range []struct {
		p              process
		client, waiter bool
	}{
		{process{user: "app", command: "Sleep"}, true, false},
		{process{user: "app", command: "Query", state: "Waiting for global read lock"}, true, true},
		{process{user: "app", command: "Execute", state: "Waiting for table metadata lock"}, true, true},
		{process{user: "app", command: "Query", state: "Sending data"}, true, false},
		{process{user: "switchyard_mon", command: "Query", state: "Waiting for global read lock"}, false, true},
		{process{user: "system user", command: "Slave_SQL"}, false, false},
		{process{user: "repl", command: "Binlog Dump GTID"}, false, false},
		{process{user: "event_scheduler", command: "Daemon"}, false, false},
	} {
		if got := tt.p.client("switchyard_mon"); got != tt.client {
			t.Errorf("%+v: client = %v", tt.p, got)
		}
		if got := lockWaiter(tt.p); got != tt.waiter {
			t.Errorf("%+v: lockWaiter = %v", tt.p, got)
		}
	}
	long := process{id: 7, user: "app", host: "h:1", command: "Query", state: "s", info: strings.Repeat("x", 200)}
	if d := long.conn().desc; len(d) > 120 || !strings.HasPrefix(d, "7 app h:1 Query s xxx") {
		t.Errorf("desc %q", d)
	}
}
