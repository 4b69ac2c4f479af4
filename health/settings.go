package health

import (
	"strings"
	"time"

	"github.com/switchyard/switchyard/config"
)

// settings is the part of the configuration the monitors use, swapped
// atomically by Reload.
type settings struct {
	interval          time.Duration
	timeout           time.Duration
	heartbeat         bool
	heartbeatInterval time.Duration
	heartbeatTable    string // quoted `db`.`table`
	heartbeatDB       string // quoted `db`
	maxLag            time.Duration
	hysteresis        time.Duration
	user, password    string
}

// settingsFrom reads cfg; zero durations (a config built in code) take the
// documented defaults so a ticker never gets a zero period.
func settingsFrom(cfg *config.Config) *settings {
	d := config.Default()
	or := func(v, def config.Duration) time.Duration {
		if v > 0 {
			return v.D()
		}
		return def.D()
	}
	table := cfg.Health.HeartbeatTable
	if table == "" {
		table = d.Health.HeartbeatTable
	}
	db, tbl := splitTable(table)
	s := &settings{
		interval:          or(cfg.Health.Interval, d.Health.Interval),
		timeout:           or(cfg.Health.Timeout, d.Health.Timeout),
		heartbeat:         cfg.Health.Heartbeat,
		heartbeatInterval: or(cfg.Health.HeartbeatInterval, d.Health.HeartbeatInterval),
		heartbeatDB:       quoteIdent(db),
		heartbeatTable:    quoteIdent(db) + "." + quoteIdent(tbl),
		maxLag:            or(cfg.Routing.MaxReplicaLag, d.Routing.MaxReplicaLag),
		hysteresis:        cfg.Routing.LagHysteresis.D(),
		user:              cfg.Monitor.User,
		password:          cfg.Monitor.Password,
	}
	return s
}

// heartbeatStale is how long the primary's newest heartbeat may go unseen
// before heartbeats stop counting for lag (the writer failing, or an external
// pt-heartbeat stopped); replicas then fall back to Seconds_Behind_Master.
// It leaves room for pt-heartbeat's default 1 s interval.
func (s *settings) heartbeatStale() time.Duration {
	return max(3*time.Second, 10*s.heartbeatInterval, 2*s.interval)
}

func (s *settings) connKey(addr string) connKey {
	return connKey{addr: addr, user: s.user, password: s.password, timeout: s.timeout}
}

// splitTable splits "db.table"; a bare table name lives in the switchyard
// database.
func splitTable(name string) (db, table string) {
	if db, table, ok := strings.Cut(name, "."); ok {
		return db, table
	}
	return "switchyard", name
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
