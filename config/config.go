// Package config defines Switchyard's single YAML configuration file: its
// schema, defaults, strict loading and validation.
package config

import "time"

// Config is the whole configuration file. Field names map to snake_case keys.
type Config struct {
	Listen      Listen      `yaml:"listen"`
	Datacenter  string      `yaml:"datacenter"` // the proxy's own datacenter; replicas here are preferred for reads
	Users       []User      `yaml:"users"`
	Admin       AdminAuth   `yaml:"admin"`
	Monitor     Credentials `yaml:"monitor"`
	Replication Credentials `yaml:"replication"`
	Servers     []Server    `yaml:"servers"`
	Routing     Routing     `yaml:"routing"`
	Health      Health      `yaml:"health"`
	Failover    Failover    `yaml:"failover"`
	TLS         TLS         `yaml:"tls"`
	Limits      Limits      `yaml:"limits"`
	Pool        Pool        `yaml:"pool"`
	Docker      Docker      `yaml:"docker"`
	Log         Log         `yaml:"log"`

	// Path is the file the config was loaded from ("" when built in code).
	Path string `yaml:"-"`
}

// Listen holds the three listener addresses.
type Listen struct {
	App     string `yaml:"app"`     // default 127.0.0.1:6033
	Admin   string `yaml:"admin"`   // default 127.0.0.1:6032; "" disables
	Metrics string `yaml:"metrics"` // default 127.0.0.1:9104; "" disables
}

// User is an application user. The proxy authenticates clients against it and
// logs in to the backends with the same credentials.
type User struct {
	Name     string `yaml:"name"`
	Password string `yaml:"password"` // ${ENV} references are expanded at load
	// DefaultRoute is where this user's statements go unless a hint or rule
	// says otherwise: auto (read/write split), primary, or replica.
	DefaultRoute   string `yaml:"default_route"`
	MaxConnections int    `yaml:"max_connections"` // 0 = only the global limit
}

// AdminAuth lists the admin-port users; never the application users.
type AdminAuth struct {
	Users []Credentials `yaml:"users"`
}

// Credentials is a user name and password pair.
type Credentials struct {
	User     string `yaml:"user"`
	Password string `yaml:"password"`
}

// Server is one MySQL/MariaDB server. Its role is discovered, not configured.
type Server struct {
	Name       string `yaml:"name"`
	Address    string `yaml:"address"` // host:port
	Datacenter string `yaml:"datacenter"`
	Promotion  string `yaml:"promotion"` // prefer | neutral (default) | never
	Weight     int    `yaml:"weight"`    // read weight, default 100; 0 = never read from
	// State is the operator state at startup and whenever a reload changes
	// it: online (default) | offline | drain, as SET SERVER sets it.
	State string `yaml:"state"`
}

// Routing configures read/write splitting.
type Routing struct {
	MaxReplicaLag  Duration            `yaml:"max_replica_lag"`  // default 1s
	LagHysteresis  Duration            `yaml:"lag_hysteresis"`   // a replica re-enters below max_replica_lag - this; default 20% of max
	ReadYourWrites string              `yaml:"read_your_writes"` // off | session (default) | global
	RYWWait        Duration            `yaml:"ryw_wait"`         // bounded MASTER_GTID_WAIT on a replica before reading the primary; default 50ms
	Fallback       string              `yaml:"fallback"`         // primary (default) | error: where reads go when no replica qualifies
	Groups         map[string][]string `yaml:"groups,omitempty"` // named server groups for rules
	Rules          []Rule              `yaml:"rules,omitempty"`
}

// Rule sends statements matching a pattern to a route. First match wins.
type Rule struct {
	Name   string `yaml:"name"`
	Match  string `yaml:"match"`  // regular expression on the statement text
	Digest string `yaml:"digest"` // exact normalised digest text (literals as ?)
	User   string `yaml:"user"`   // only for this user ("" = any)
	Route  string `yaml:"route"`  // primary | replica | group:<name>
}

// Health configures the per-server monitors.
type Health struct {
	Interval          Duration `yaml:"interval"`           // default 250ms
	Timeout           Duration `yaml:"timeout"`            // default 200ms
	Heartbeat         bool     `yaml:"heartbeat"`          // write a heartbeat on the primary; default true
	HeartbeatInterval Duration `yaml:"heartbeat_interval"` // default 100ms
	HeartbeatTable    string   `yaml:"heartbeat_table"`    // default switchyard.heartbeat (pt-heartbeat schema)
}

// Failover configures detection, promotion and fencing.
type Failover struct {
	Enabled            bool     `yaml:"enabled"`             // default true
	DetectionThreshold int      `yaml:"detection_threshold"` // failed checks before the primary is suspect; default 3
	MaxHold            Duration `yaml:"max_hold"`            // hold writes this long during failover; default 10s
	AntiFlap           Duration `yaml:"anti_flap"`           // no second automatic failover within; default 5m
	CatchupTimeout     Duration `yaml:"catchup_timeout"`     // candidate applies its relay log within; default 5s
	SwitchoverTimeout  Duration `yaml:"switchover_timeout"`  // running transactions finish within; default 5s
	Rejoin             bool     `yaml:"rejoin"`              // re-attach a returning old primary; default true
	Fencing            Fencing  `yaml:"fencing"`
	Hooks              Hooks    `yaml:"hooks"`
}

// Fencing says what is done to a failed primary.
type Fencing struct {
	ReadOnly        bool   `yaml:"read_only"`        // set read_only when reachable; default true
	KillConnections bool   `yaml:"kill_connections"` // kill its client connections; default true
	Command         string `yaml:"command"`          // shell command run with the topology in the environment
}

// Hooks are shell commands run around a failover or switchover.
type Hooks struct {
	PreFailover  string   `yaml:"pre_failover"`
	PostFailover string   `yaml:"post_failover"`
	Timeout      Duration `yaml:"timeout"` // default 10s
}

// TLS configures TLS towards clients and towards backends.
type TLS struct {
	Client  ClientTLS  `yaml:"client"`
	Backend BackendTLS `yaml:"backend"`
}

// ClientTLS is offered to application clients (and the admin port).
type ClientTLS struct {
	Enabled  bool   `yaml:"enabled"`  // default true: a self-signed certificate is generated if none is given
	Required bool   `yaml:"required"` // refuse clients that do not use TLS
	Cert     string `yaml:"cert"`
	Key      string `yaml:"key"`
}

// BackendTLS is used by the proxy's connections to servers.
type BackendTLS struct {
	Enabled    bool   `yaml:"enabled"`
	CA         string `yaml:"ca"`
	SkipVerify bool   `yaml:"skip_verify"`
}

// Limits protect the proxy from bad or excessive clients.
type Limits struct {
	MaxClientConnections int      `yaml:"max_client_connections"` // default 10000
	HandshakeTimeout     Duration `yaml:"handshake_timeout"`      // default 5s
	IdleTimeout          Duration `yaml:"idle_timeout"`           // default 8h
	WriteTimeout         Duration `yaml:"write_timeout"`          // a client that accepts no bytes of a result for this long is disconnected; default 60s
	MaxPacketSize        ByteSize `yaml:"max_packet_size"`        // largest logical packet from a client; default 1GiB
	ShutdownTimeout      Duration `yaml:"shutdown_timeout"`       // running statements finish within; default 10s
}

// Pool configures backend connection pools, one per (server, user).
type Pool struct {
	MinIdle            int      `yaml:"min_idle"`              // pre-warmed connections per server and user; default 4
	MaxPerServer       int      `yaml:"max_per_server"`        // default 200
	WaitTimeout        Duration `yaml:"wait_timeout"`          // wait for a free connection at most; default 5s
	MaxIdleTime        Duration `yaml:"max_idle_time"`         // close idle connections above min_idle after; default 60s
	MaxPreparedPerConn int      `yaml:"max_prepared_per_conn"` // LRU cap on backend prepared statements; default 256
}

// Docker configures discovery of servers from Docker containers.
type Docker struct {
	Enabled  bool   `yaml:"enabled"`
	Endpoint string `yaml:"endpoint"` // default $DOCKER_HOST or the local socket
	Label    string `yaml:"label"`    // selector, e.g. switchyard.cluster=shop
	Network  string `yaml:"network"`  // address containers by their IP on this network
	Port     int    `yaml:"port"`     // default 3306
	Fence    string `yaml:"fence"`    // stop (default) | kill | pause | none
}

// Log configures structured logging.
type Log struct {
	Level  string `yaml:"level"`  // debug | info (default) | warn | error
	Format string `yaml:"format"` // text (default) | json
}

// Duration is a time.Duration written as "250ms", "5s", "5m" in YAML.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ByteSize is a size written as 1024, "64KiB", "16MiB" or "1GiB" in YAML.
type ByteSize int64
