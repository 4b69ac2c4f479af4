package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// base is a minimal valid file; tests append to it or replace lines.
const base = `users:
  - name: app
    password: app
admin:
  users: [{user: admin, password: admin}]
monitor: {user: mon, password: monpw}
replication: {user: repl, password: replpw}
servers:
  - name: db1
    address: 127.0.0.1:3306
  - name: db2
    address: 127.0.0.1:3307
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown top-level key", base + "bogus: 1\n", "x.yaml:13: bogus: unknown key"},
		{"unknown nested key", base + "routing:\n  max_replica_lag: 2s\n  max_lagg: 1s\n", "x.yaml:15: routing.max_lagg: unknown key"},
		{"unknown key in list item", strings.Replace(base, "    address: 127.0.0.1:3307\n", "    address: 127.0.0.1:3307\n    wieght: 5\n", 1), "x.yaml:13: servers[1].wieght: unknown key"},
		{"bad duration", base + "health:\n  interval: fast\n", `x.yaml:14: health.interval: "fast" is not a duration (e.g. 250ms)`},
		{"bad integer", base + "pool:\n  min_idle: lots\n", `x.yaml:14: pool.min_idle: "lots" is not an integer`},
		{"bad boolean", base + "failover:\n  enabled: yes\n", `x.yaml:14: failover.enabled: "yes" is not true or false`},
		{"bad size", base + "limits:\n  max_packet_size: 12 parsecs\n", `x.yaml:14: limits.max_packet_size: "12 parsecs" is not a size (e.g. 1024, 64KiB, 16MiB, 1GiB)`},
		{"list where mapping", base + "health: [1, 2]\n", "x.yaml:13: health: expected a mapping of keys to values"},
		{"missing servers", strings.Split(base, "servers:")[0], "x.yaml: servers: at least one server is required (or docker.enabled: true)"},
		{"empty servers", strings.Split(base, "servers:")[0] + "servers: []\n", "x.yaml:8: servers: at least one server is required (or docker.enabled: true)"},
		{"bad promotion", base + "  - name: db3\n    address: 127.0.0.1:3308\n    promotion: sometimes\n", `x.yaml:15: servers[2].promotion: "sometimes" is not one of prefer|neutral|never`},
		{"duplicate server", base + "  - name: db1\n    address: 127.0.0.1:3308\n", `x.yaml:13: servers[2].name: duplicate server "db1"`},
		{"bad address", strings.Replace(base, "127.0.0.1:3307", "db2.example", 1), `x.yaml:12: servers[1].address: "db2.example" is not host:port`},
		{"negative weight", base + "    weight: -1\n", "x.yaml:13: servers[1].weight: must be at least 0 (got -1)"},
		{"bad default route", strings.Replace(base, "password: app\n", "password: app\n    default_route: sideways\n", 1), `x.yaml:4: users[0].default_route: "sideways" is not one of auto|primary|replica`},
		{"no users", strings.Replace(base, "users:\n  - name: app\n    password: app\n", "", 1), "x.yaml: users: at least one application user is required"},
		{"bad read_your_writes", base + "routing:\n  read_your_writes: always\n", `x.yaml:14: routing.read_your_writes: "always" is not one of off|session|global`},
		{"bad regexp", base + "routing:\n  rules:\n    - match: '(unclosed'\n      route: primary\n", "x.yaml:15: routing.rules[0].match: invalid regular expression: error parsing regexp: missing closing ): `(unclosed`"},
		{"unknown group", base + "routing:\n  rules:\n    - match: '^SELECT'\n      route: group:reports\n", `x.yaml:16: routing.rules[0].route: unknown group "reports" (define it under routing.groups)`},
		{"group with unknown server", base + "routing:\n  groups:\n    reports: [db2, db9]\n", `x.yaml:15: routing.groups.reports[1]: unknown server "db9"`},
		{"zero interval", base + "health:\n  interval: 0s\n", "x.yaml:14: health.interval: must be greater than 0 (got 0s)"},
		{"bad fence", base + "docker:\n  fence: nuke\n", `x.yaml:14: docker.fence: "nuke" is not one of stop|kill|pause|none`},
		{"bad log level", base + "log:\n  level: loud\n", `x.yaml:14: log.level: "loud" is not one of debug|info|warn|error`},
		{"missing env", strings.Replace(base, "password: app", "password: ${SWITCHYARD_TEST_UNSET}", 1), "x.yaml:3: users[0].password: environment variable SWITCHYARD_TEST_UNSET is not set"},
		{"syntax error", base + "routing:\n max_replica_lag: 1s\n  fallback: error\n", "x.yaml:15: mapping values are not allowed in this context"},
		{"duplicate key", base + "servers: []\n", `x.yaml:13: mapping key "servers" already defined at line 8`},
		{"not a mapping", "- a\n- b\n", "x.yaml:1: the configuration must be a mapping of keys to values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "x.yaml")
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Fatalf("error\n got: %s\nwant: %s", err, tt.want)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *config.Error", err)
			}
		})
	}
}

func TestParseReportsAllProblems(t *testing.T) {
	_, err := Parse([]byte(strings.Replace(base, "127.0.0.1:3307", "nowhere", 1)+"log:\n  level: loud\n"), "x.yaml")
	if err == nil || !strings.HasPrefix(err.Error(), "x.yaml:12: servers[1].address") || !strings.Contains(err.Error(), "\nx.yaml:14: log.level") {
		t.Fatalf("validation errors not in file order:\n%v", err)
	}

	_, err = Parse([]byte(base+"routing:\n  max_lagg: 1s\nhealth:\n  interval: fast\n"), "x.yaml")
	want := "x.yaml:14: routing.max_lagg: unknown key\nx.yaml:16: health.interval: \"fast\" is not a duration (e.g. 250ms)"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want\n%s", err, want)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(base), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != "x.yaml" {
		t.Errorf("Path = %q", c.Path)
	}
	if c.Listen.App != "127.0.0.1:6033" || c.Listen.Admin != "127.0.0.1:6032" || c.Listen.Metrics != "127.0.0.1:9104" {
		t.Errorf("listen defaults: %+v", c.Listen)
	}
	checks := map[string]bool{
		"failover.enabled":          c.Failover.Enabled,
		"failover.rejoin":           c.Failover.Rejoin,
		"health.heartbeat":          c.Health.Heartbeat,
		"fencing.read_only":         c.Failover.Fencing.ReadOnly,
		"fencing.kill_connections":  c.Failover.Fencing.KillConnections,
		"tls.client.enabled":        c.TLS.Client.Enabled,
		"max_replica_lag 1s":        c.Routing.MaxReplicaLag.D() == time.Second,
		"lag_hysteresis 20%":        c.Routing.LagHysteresis.D() == 200*time.Millisecond,
		"read_your_writes session":  c.Routing.ReadYourWrites == "session",
		"health.interval 250ms":     c.Health.Interval.D() == 250*time.Millisecond,
		"detection_threshold 3":     c.Failover.DetectionThreshold == 3,
		"max_packet_size 1GiB":      c.Limits.MaxPacketSize == 1<<30,
		"server weight 100":         c.Servers[0].Weight == 100 && c.Servers[1].Weight == 100,
		"server promotion neutral":  c.Servers[1].Promotion == "neutral",
		"user default_route auto":   c.Users[0].DefaultRoute == "auto",
		"docker.fence stop":         c.Docker.Fence == "stop",
		"heartbeat_table":           c.Health.HeartbeatTable == "switchyard.heartbeat",
		"pool.max_prepared_per_con": c.Pool.MaxPreparedPerConn == 256,
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("default %s not applied", name)
		}
	}

	// Explicit false and zero override the defaults.
	c, err = Parse([]byte(base+"    weight: 0\nfailover:\n  enabled: false\n  rejoin: false\nrouting:\n  max_replica_lag: 5s\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Failover.Enabled || c.Failover.Rejoin || c.Servers[1].Weight != 0 || c.Servers[0].Weight != 100 {
		t.Errorf("explicit values lost: failover %+v, servers %+v", c.Failover, c.Servers)
	}
	if c.Routing.LagHysteresis.D() != time.Second {
		t.Errorf("lag_hysteresis = %s, want 20%% of 5s", c.Routing.LagHysteresis)
	}
}

func TestEnvExpansion(t *testing.T) {
	t.Setenv("SY_APP_PW", "s3cr3t ${not-a-ref}")
	t.Setenv("SY_NUMERIC_PW", "123")
	t.Setenv("SY_NULL_PW", "null")
	t.Setenv("SY_PORT", "7000")
	t.Setenv("SY_EMPTY", "")
	y := strings.NewReplacer(
		"password: app", "password: ${SY_APP_PW}",
		// Inside a flow mapping {...} a reference must be quoted.
		"password: monpw", `password: "${SY_NUMERIC_PW}"`,
		"password: replpw", "password: '${SY_NULL_PW}'",
		"127.0.0.1:3306", "127.0.0.1:${SY_PORT}",
	).Replace(base) + "datacenter: ${SY_EMPTY:-dc1}\npool:\n  min_idle: ${SY_MIN_IDLE_UNSET:-2}\n"
	c, err := Parse([]byte(y), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Users[0].Password != "s3cr3t ${not-a-ref}" {
		t.Errorf("password = %q (expanded values must not be expanded again)", c.Users[0].Password)
	}
	if c.Monitor.Password != "123" || c.Replication.Password != "null" {
		t.Errorf("env values must stay strings: monitor %q, replication %q", c.Monitor.Password, c.Replication.Password)
	}
	if c.Servers[0].Address != "127.0.0.1:7000" || c.Datacenter != "dc1" || c.Pool.MinIdle != 2 {
		t.Errorf("address %q, datacenter %q, min_idle %d", c.Servers[0].Address, c.Datacenter, c.Pool.MinIdle)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	t.Setenv("SY_APP_PW", "from-env")
	y := strings.Replace(base, "password: app", "password: ${SY_APP_PW}", 1) + `datacenter: dc1
routing:
  max_replica_lag: 1500ms
  groups:
    reports: [db2]
  rules:
    - name: reports
      match: '(?i)^select .* from reports'
      route: group:reports
limits:
  max_packet_size: 64KiB
failover:
  anti_flap: 90m
`
	c, err := Parse([]byte(y), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(out, "marshalled.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	back.Path = c.Path
	if !reflect.DeepEqual(c, back) {
		t.Fatalf("round trip changed the config:\n%+v\n%+v", c, back)
	}
	for _, want := range []string{"max_packet_size: 64KiB", "anti_flap: 1h30m", "max_replica_lag: 1.5s"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("marshalled config lacks %q", want)
		}
	}
}

func TestRedacted(t *testing.T) {
	c, err := Parse([]byte(base), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := c.Redacted()
	out, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"monpw", "replpw", "password: app", "password: admin"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("redacted config contains %q", secret)
		}
	}
	if r.Users[0].Password != Mask || c.Users[0].Password != "app" || c.Admin.Users[0].Password != "admin" {
		t.Errorf("Redacted must mask the copy only: copy %q, original %q", r.Users[0].Password, c.Users[0].Password)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"1024": 1024, "64KiB": 64 << 10, "16MiB": 16 << 20, "1GiB": 1 << 30, "16MB": 16 << 20, "2 GiB": 2 << 30} {
		got, err := parseByteSize(in)
		if err != nil || got != want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "1.5GiB", "12 parsecs", "KiB", "99999999999GiB"} {
		if _, err := parseByteSize(in); err == nil {
			t.Errorf("parseByteSize(%q) succeeded", in)
		}
	}
}

// Every shipped example must load, so the documentation cannot rot.
func TestShippedConfigsParse(t *testing.T) {
	files, err := filepath.Glob("../configs/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found %d files in configs/, want at least reference, sandbox and two-dc", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range envRef.FindAllStringSubmatch(string(data), -1) {
			if m[2] == "" { // secrets without a default come from the environment
				t.Setenv(m[1], "secret")
			}
		}
		if _, err := Load(f); err != nil {
			t.Errorf("%v", err)
		}
	}
	if _, err := Load("../configs/does-not-exist.yaml"); err == nil || !strings.Contains(err.Error(), "does-not-exist.yaml") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

// configs/reference.yaml must show every key of the schema.
func TestReferenceHasEveryKey(t *testing.T) {
	data, err := os.ReadFile("../configs/reference.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(typ reflect.Type, key string)
	walk = func(typ reflect.Type, key string) {
		switch {
		case typ == durationType || typ == byteSizeType:
		case typ.Kind() == reflect.Struct:
			for i := 0; i < typ.NumField(); i++ {
				name, _, _ := strings.Cut(typ.Field(i).Tag.Get("yaml"), ",")
				if name == "-" || !typ.Field(i).IsExported() {
					continue
				}
				k := join(key, name)
				if lookup(doc.Content[0], k) == nil {
					t.Errorf("reference.yaml lacks %s", k)
					continue
				}
				walk(typ.Field(i).Type, k)
			}
		case typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.Struct:
			walk(typ.Elem(), key+"[0]")
		}
	}
	walk(configType, "")
}

func TestEmptyFileAndValidate(t *testing.T) {
	_, err := Parse([]byte("# nothing yet\n"), "empty.yaml")
	want := "empty.yaml: admin.users: at least one admin user is required while listen.admin is set\n" +
		"empty.yaml: users: at least one application user is required\n" +
		"empty.yaml: monitor.user: is required (the health checks log in as this user)\n" +
		"empty.yaml: replication.user: is required while failover is enabled (replicas are repointed with it)\n" +
		"empty.yaml: servers: at least one server is required (or docker.enabled: true)"
	if err == nil || err.Error() != want {
		t.Fatalf("got:\n%v\nwant:\n%s", err, want)
	}
	c := Default()
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "config: admin.users: ") {
		t.Fatalf("Validate of an empty in-code config: %v", err)
	}
}
