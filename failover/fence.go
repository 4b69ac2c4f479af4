package failover

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
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
		killed, err := killAll(ctx, db, clientConnectionsSQL, m.cfg.Load().Monitor.User)
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

// conn is a server connection from one of the connection lists in sql.go.
type conn struct {
	id   int64
	desc string // id, user, host, command, state...
}

// listConns runs a connection list query (id, description).
func listConns(ctx context.Context, db *sql.DB, query string, args ...any) ([]conn, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list connections: %w", err)
	}
	defer rows.Close()
	var conns []conn
	for rows.Next() {
		var c conn
		var desc sql.NullString
		if err := rows.Scan(&c.id, &desc); err != nil {
			return nil, err
		}
		c.desc = fmt.Sprintf("%d %s", c.id, desc.String)
		conns = append(conns, c)
	}
	return conns, rows.Err()
}

// killAll kills the connections query lists and returns the descriptions
// of those killed.
func killAll(ctx context.Context, db *sql.DB, query string, args ...any) ([]string, error) {
	conns, err := listConns(ctx, db, query, args...)
	if err != nil {
		return nil, err
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
	var ids []int64
	started := map[int64]string{}
	for rows.Next() {
		var id int64
		var at sql.NullString
		if err := rows.Scan(&id, &at); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
		started[id] = at.String
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return nil, err
	}
	conns, err := listConns(ctx, db, connsByIDSQL(ids), monitorUser)
	for i := range conns {
		conns[i].desc += " trx started " + started[conns[i].id]
	}
	return conns, err
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
