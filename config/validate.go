package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Validate checks a configuration built in code (e.g. by the sandbox) the
// same way Parse checks a file.
func (c *Config) Validate() error {
	return errors.Join(c.validate(c.Path, nil)...)
}

// validate returns every problem; root (may be nil) locates them in the file.
func (c *Config) validate(path string, root *yaml.Node) []error {
	v := &validator{path: path, root: root}
	c.validateListen(v)
	c.validateUsers(v)
	c.validateServers(v)
	c.validateRouting(v)
	c.validateHealth(v)
	c.validateFailover(v)
	c.validateTLS(v)
	c.validateLimits(v)
	c.validateDocker(v)
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "text", "json")
	// In file order; problems with absent keys (no line) last.
	slices.SortStableFunc(v.errs, func(a, b error) int {
		la, lb := a.(*Error).Line, b.(*Error).Line
		if la == 0 || lb == 0 {
			return lb - la // 0 sorts after any line
		}
		return la - lb
	})
	return v.errs
}

type validator struct {
	path string
	root *yaml.Node
	errs []error
}

func (v *validator) fail(key, format string, args ...any) {
	line := 0
	if v.root != nil {
		line = lineOf(v.root, key)
	}
	v.errs = append(v.errs, &Error{File: v.path, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) oneOf(key, val string, allowed ...string) {
	if !slices.Contains(allowed, val) {
		v.fail(key, "%q is not one of %s", val, strings.Join(allowed, "|"))
	}
}

func (v *validator) positive(key string, d Duration) {
	if d <= 0 {
		v.fail(key, "must be greater than 0 (got %s)", d)
	}
}

func (v *validator) notNegative(key string, d Duration) {
	if d < 0 {
		v.fail(key, "must not be negative (got %s)", d)
	}
}

func (v *validator) atLeast(key string, n, min int) {
	if n < min {
		v.fail(key, "must be at least %d (got %d)", min, n)
	}
}

// hostPort checks "host:port" with a numeric port; port 0 (any free port) is
// allowed only for listeners.
func (v *validator) hostPort(key, addr string, listener bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.fail(key, "%q is not host:port", addr)
		return
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 || (p == 0 && !listener) || (host == "" && !listener) {
		v.fail(key, "%q is not host:port", addr)
	}
}

func (c *Config) validateListen(v *validator) {
	if c.Listen.App == "" {
		v.fail("listen.app", "is required")
	} else {
		v.hostPort("listen.app", c.Listen.App, true)
	}
	if c.Listen.Admin != "" {
		v.hostPort("listen.admin", c.Listen.Admin, true)
		if len(c.Admin.Users) == 0 {
			v.fail("admin.users", "at least one admin user is required while listen.admin is set")
		}
	}
	if c.Listen.Metrics != "" {
		v.hostPort("listen.metrics", c.Listen.Metrics, true)
	}
}

func (c *Config) validateUsers(v *validator) {
	if len(c.Users) == 0 {
		v.fail("users", "at least one application user is required")
	}
	seen := map[string]bool{}
	for i, u := range c.Users {
		key := fmt.Sprintf("users[%d]", i)
		switch {
		case u.Name == "":
			v.fail(key+".name", "is required")
		case seen[u.Name]:
			v.fail(key+".name", "duplicate user %q", u.Name)
		}
		seen[u.Name] = true
		v.oneOf(key+".default_route", u.DefaultRoute, "auto", "primary", "replica")
		v.atLeast(key+".max_connections", u.MaxConnections, 0)
	}
	for i, u := range c.Admin.Users {
		if u.User == "" {
			v.fail(fmt.Sprintf("admin.users[%d].user", i), "is required")
		}
	}
	if c.Monitor.User == "" {
		v.fail("monitor.user", "is required (the health checks log in as this user)")
	}
	if c.Failover.Enabled && c.Replication.User == "" {
		v.fail("replication.user", "is required while failover is enabled (replicas are repointed with it)")
	}
}

func (c *Config) validateServers(v *validator) {
	if len(c.Servers) == 0 && !c.Docker.Enabled {
		v.fail("servers", "at least one server is required (or docker.enabled: true)")
	}
	seen := map[string]bool{}
	for i, s := range c.Servers {
		key := fmt.Sprintf("servers[%d]", i)
		switch {
		case s.Name == "":
			v.fail(key+".name", "is required")
		case seen[s.Name]:
			v.fail(key+".name", "duplicate server %q", s.Name)
		}
		seen[s.Name] = true
		if s.Address == "" {
			v.fail(key+".address", "is required")
		} else {
			v.hostPort(key+".address", s.Address, false)
		}
		v.oneOf(key+".promotion", s.Promotion, "prefer", "neutral", "never")
		if s.State != "" {
			v.oneOf(key+".state", s.State, "online", "offline", "drain")
		}
		v.atLeast(key+".weight", s.Weight, 0)
	}
}

func (c *Config) validateRouting(v *validator) {
	r := c.Routing
	v.positive("routing.max_replica_lag", r.MaxReplicaLag)
	v.notNegative("routing.lag_hysteresis", r.LagHysteresis)
	if r.LagHysteresis >= r.MaxReplicaLag && r.MaxReplicaLag > 0 {
		v.fail("routing.lag_hysteresis", "must be less than max_replica_lag (%s)", r.MaxReplicaLag)
	}
	v.oneOf("routing.read_your_writes", r.ReadYourWrites, "off", "session", "global")
	v.notNegative("routing.ryw_wait", r.RYWWait)
	v.oneOf("routing.fallback", r.Fallback, "primary", "error")
	servers := map[string]bool{}
	for _, s := range c.Servers {
		servers[s.Name] = true
	}
	for _, g := range slices.Sorted(maps.Keys(r.Groups)) {
		if len(r.Groups[g]) == 0 {
			v.fail("routing.groups."+g, "a group needs at least one server")
		}
		for i, s := range r.Groups[g] {
			if !servers[s] {
				v.fail(fmt.Sprintf("routing.groups.%s[%d]", g, i), "unknown server %q", s)
			}
		}
	}
	users := map[string]bool{}
	for _, u := range c.Users {
		users[u.Name] = true
	}
	for i, rule := range r.Rules {
		key := fmt.Sprintf("routing.rules[%d]", i)
		if rule.Match == "" && rule.Digest == "" {
			v.fail(key, "a rule needs match or digest")
		}
		if rule.Match != "" {
			if _, err := regexp.Compile(rule.Match); err != nil {
				v.fail(key+".match", "invalid regular expression: %v", err)
			}
		}
		if rule.User != "" && !users[rule.User] {
			v.fail(key+".user", "unknown user %q", rule.User)
		}
		if g, ok := strings.CutPrefix(rule.Route, "group:"); ok {
			if _, exists := r.Groups[g]; !exists {
				v.fail(key+".route", "unknown group %q (define it under routing.groups)", g)
			}
		} else {
			v.oneOf(key+".route", rule.Route, "primary", "replica", "group:<name>")
		}
	}
}

func (c *Config) validateHealth(v *validator) {
	h := c.Health
	v.positive("health.interval", h.Interval)
	v.positive("health.timeout", h.Timeout)
	if h.Heartbeat {
		v.positive("health.heartbeat_interval", h.HeartbeatInterval)
		if schema, table, ok := strings.Cut(h.HeartbeatTable, "."); !ok || schema == "" || table == "" || strings.Contains(table, ".") {
			v.fail("health.heartbeat_table", "%q is not schema.table", h.HeartbeatTable)
		}
	}
}

func (c *Config) validateFailover(v *validator) {
	f := c.Failover
	v.atLeast("failover.detection_threshold", f.DetectionThreshold, 1)
	v.positive("failover.max_hold", f.MaxHold)
	v.notNegative("failover.anti_flap", f.AntiFlap)
	v.positive("failover.catchup_timeout", f.CatchupTimeout)
	v.positive("failover.switchover_timeout", f.SwitchoverTimeout)
	v.positive("failover.hooks.timeout", f.Hooks.Timeout)
}

func (c *Config) validateTLS(v *validator) {
	t := c.TLS.Client
	if t.Required && !t.Enabled {
		v.fail("tls.client.required", "needs tls.client.enabled: true")
	}
	if (t.Cert == "") != (t.Key == "") {
		v.fail("tls.client.cert", "cert and key must be given together")
	}
}

func (c *Config) validateLimits(v *validator) {
	l, p := c.Limits, c.Pool
	v.atLeast("limits.max_client_connections", l.MaxClientConnections, 1)
	v.positive("limits.handshake_timeout", l.HandshakeTimeout)
	v.notNegative("limits.idle_timeout", l.IdleTimeout)
	v.notNegative("limits.write_timeout", l.WriteTimeout)
	if l.MaxPacketSize < 1<<10 || l.MaxPacketSize > 1<<30 {
		v.fail("limits.max_packet_size", "must be between 1KiB and 1GiB (the protocol's limit)")
	}
	v.notNegative("limits.shutdown_timeout", l.ShutdownTimeout)
	v.atLeast("pool.min_idle", p.MinIdle, 0)
	v.atLeast("pool.max_per_server", p.MaxPerServer, 1)
	if p.MinIdle > p.MaxPerServer && p.MaxPerServer >= 1 {
		v.fail("pool.min_idle", "must not exceed pool.max_per_server (%d)", p.MaxPerServer)
	}
	v.positive("pool.wait_timeout", p.WaitTimeout)
	v.notNegative("pool.max_idle_time", p.MaxIdleTime)
	v.atLeast("pool.max_prepared_per_conn", p.MaxPreparedPerConn, 0)
}

func (c *Config) validateDocker(v *validator) {
	d := c.Docker
	v.oneOf("docker.fence", d.Fence, "stop", "kill", "pause", "none")
	if d.Port < 1 || d.Port > 65535 {
		v.fail("docker.port", "%d is not a port", d.Port)
	}
	if d.Enabled && d.Label == "" {
		v.fail("docker.label", "is required while docker.enabled is true (e.g. switchyard.cluster=shop)")
	}
}
