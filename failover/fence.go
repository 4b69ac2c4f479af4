package failover

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/switchyard/topology"
)

// verifyBound is how long repointed replicas get to show both replication
// threads running.
const verifyBound = 5 * time.Second

// fenceDB makes a failed primary read-only and kills its client
// connections, as configured; it returns what it did, for the event.
func (m *Manager) fenceDB(ctx context.Context, srv *topology.Server) string {
	f := m.cfg.Load().Failover.Fencing
	db, err := m.db(srv)
	if err != nil {
		return "not fenced: " + err.Error()
	}
	var done []string
	if f.ReadOnly {
		if err := execAll(ctx, db, readOnlySQL(srv.Flavor, true)); err != nil {
			done = append(done, "read_only failed: "+err.Error())
		} else {
			done = append(done, "read_only set")
		}
	}
	if f.KillConnections {
		monitor := m.cfg.Load().Monitor.User
		killed, err := killWhere(ctx, db, func(p process) bool { return p.client(monitor) })
		if len(killed) > 0 {
			m.log.Info("fencing: killed client connections", "server", srv.Name, "connections", killed)
		}
		if err != nil {
			done = append(done, fmt.Sprintf("killed %d connections, then: %v", len(killed), err))
		} else {
			done = append(done, fmt.Sprintf("killed %d connections", len(killed)))
		}
	}
	return strings.Join(done, ", ")
}

// conn is a server connection to kill or wait for.
type conn struct {
	id   int64
	desc string // id, user, host, command, state, statement
}

// process is one row of SHOW PROCESSLIST. Connection lists are read with it,
// not from information_schema.PROCESSLIST: polled while a switchover drains,
// queries on that table crashed mariadbd 10.11 twice in our tests (in
// free_tmp_table under close_thread_tables).
type process struct {
	id                               int64
	user, host, command, state, info string
}

func (p process) conn() conn {
	info := p.info
	if len(info) > 80 {
		info = info[:80]
	}
	return conn{id: p.id, desc: strings.TrimSpace(fmt.Sprintf("%d %s %s %s %s %s", p.id, p.user, p.host, p.command, p.state, info))}
}

// client reports a client connection: not a server thread, replication or
// Switchyard's own monitor (whose heartbeat writes stop by themselves once
// read_only is on).
func (p process) client(monitorUser string) bool {
	switch p.user {
	case "system user", "event_scheduler", monitorUser:
		return false
	}
	switch p.command {
	case "Binlog Dump", "Binlog Dump GTID", "Daemon", "Slave_IO", "Slave_SQL", "Slave_worker":
		return false
	}
	return true
}

// lockWaiter is a statement waiting for the read lock switchover holds on
// the old primary: a write that would land after it is released.
func lockWaiter(p process) bool {
	return (p.command == "Query" || p.command == "Execute") && strings.HasPrefix(p.state, "Waiting for") && strings.Contains(p.state, "lock")
}

// processList reads SHOW PROCESSLIST (MariaDB and MySQL differ in trailing
// columns, so they are found by name).
func processList(ctx context.Context, db *sql.DB) ([]process, error) {
	rows, err := queryRows(ctx, db, "SHOW PROCESSLIST")
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	out := make([]process, 0, len(rows))
	for _, r := range rows {
		id, _ := strconv.ParseInt(r["Id"], 10, 64)
		out = append(out, process{id: id, user: r["User"], host: r["Host"], command: r["Command"], state: r["State"], info: r["Info"]})
	}
	return out, nil
}

// killWhere kills the connections SHOW PROCESSLIST lists that match and
// returns the descriptions of those killed.
func killWhere(ctx context.Context, db *sql.DB, match func(process) bool) ([]string, error) {
	procs, err := processList(ctx, db)
	if err != nil {
		return nil, err
	}
	var conns []conn
	for _, p := range procs {
		if match(p) {
			conns = append(conns, p.conn())
		}
	}
	return killConns(ctx, db, conns)
}

// openTransactions lists the other connections with an open transaction,
// except those of monitorUser.
func openTransactions(ctx context.Context, db *sql.DB, monitorUser string) ([]conn, error) {
	rows, err := db.QueryContext(ctx, openTrxSQL)
	if err != nil {
		return nil, fmt.Errorf("list transactions: %w", err)
	}
	started := map[int64]string{}
	for rows.Next() {
		var id int64
		var at sql.NullString
		if err := rows.Scan(&id, &at); err != nil {
			rows.Close()
			return nil, err
		}
		started[id] = at.String
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(started) == 0 {
		return nil, err
	}
	procs, err := processList(ctx, db)
	if err != nil {
		return nil, err
	}
	var conns []conn
	for _, p := range procs {
		if at, ok := started[p.id]; ok && p.client(monitorUser) {
			c := p.conn()
			c.desc += " trx started " + at
			conns = append(conns, c)
		}
	}
	return conns, nil
}

// killConns kills conns and returns the descriptions of those killed.
func killConns(ctx context.Context, db *sql.DB, conns []conn) ([]string, error) {
	var killed []string
	for _, c := range conns {
		if _, err := db.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", c.id)); err != nil {
			if strings.Contains(err.Error(), "1094") { // unknown thread: it ended by itself
				continue
			}
			return killed, fmt.Errorf("kill %d: %w", c.id, err)
		}
		killed = append(killed, c.desc)
	}
	return killed, nil
}

// afterwards runs, without delaying anyone, what follows a change of
// primary: fencing that can wait (an unreachable old primary is fenced in
// the database when it returns, see rejoin), the fence command and Fencer,
// the post_failover hook, and the check that repointed replicas replicate.
func (m *Manager) afterwards(ev Event, old *topology.Server, fenceOld bool, replicas []candidate) {
	set := m.settings()
	m.async.Add(1)
	go func() {
		defer m.async.Done()
		ctx, cancel := context.WithTimeout(context.Background(), set.hookTimeout+verifyBound)
		defer cancel()
		if old != nil && fenceOld {
			if old.Reachable {
				m.annotate(ev.ID, m.fenceDB(ctx, old), "")
			} else {
				m.annotate(ev.ID, "unreachable: fenced by role; read_only when it returns", "")
			}
		}
		if old != nil && set.cfg.Failover.Fencing.Command != "" {
			if err := m.runHook(ctx, "fencing.command", set.cfg.Failover.Fencing.Command, &ev); err != nil {
				m.annotate(ev.ID, "fence command failed", err.Error())
			} else {
				m.annotate(ev.ID, "fence command ran", "")
			}
		}
		if old != nil && m.fencer != nil {
			fctx, fcancel := context.WithTimeout(ctx, set.hookTimeout)
			action, err := m.fencer.Fence(fctx, old.Name)
			fcancel()
			if err != nil {
				m.annotate(ev.ID, "", fmt.Sprintf("fencer: %v", err))
			} else {
				m.annotate(ev.ID, action, "")
			}
		}
		for _, r := range replicas {
			if err := m.verifyReplicating(ctx, &r.Server, verifyBound); err != nil {
				m.log.Error("replica does not follow the new primary", "server", r.Server.Name, "error", err)
				m.annotate(ev.ID, "", err.Error())
			}
		}
		if err := m.runHook(ctx, "post_failover", set.cfg.Failover.Hooks.PostFailover, &ev); err != nil {
			m.annotate(ev.ID, "", err.Error())
		}
	}()
}

// runHook runs a configured shell command with the topology in its
// environment, bounded by hooks.timeout. An empty command does nothing.
func (m *Manager) runHook(ctx context.Context, name, command string, ev *Event) error {
	if command == "" {
		return nil
	}
	set := m.settings()
	ctx, cancel := context.WithTimeout(ctx, set.hookTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Env = append(os.Environ(), hookEnv(ev, m.view.Load())...)
	cmd.WaitDelay = time.Second // a background child keeping stdout open must not hang us
	start := time.Now()
	out, err := cmd.CombinedOutput()
	m.log.Info("hook ran", "hook", name, "duration", time.Since(start), "error", err)
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		return fmt.Errorf("%s hook: %v: %s", name, err, msg)
	}
	return nil
}

// hookEnv describes the event and the topology to hooks.
func hookEnv(ev *Event, snap *topology.Snapshot) []string {
	addr := func(name string) string {
		if s := snap.Server(name); s != nil {
			return s.Addr
		}
		return ""
	}
	var servers []string
	for _, s := range snap.Servers {
		servers = append(servers, s.Name+"="+s.Addr)
	}
	return []string{
		"SWITCHYARD_EVENT=" + ev.Kind,
		"SWITCHYARD_OLD_PRIMARY=" + ev.OldPrimary,
		"SWITCHYARD_OLD_PRIMARY_ADDR=" + addr(ev.OldPrimary),
		"SWITCHYARD_NEW_PRIMARY=" + ev.NewPrimary,
		"SWITCHYARD_NEW_PRIMARY_ADDR=" + addr(ev.NewPrimary),
		"SWITCHYARD_SERVERS=" + strings.Join(servers, ","),
	}
}
