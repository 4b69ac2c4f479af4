package health

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
)

// heartbeatWriter writes the heartbeat on the current primary. Its
// connection follows the primary as the view changes it.
type heartbeatWriter struct {
	m        *Monitor
	target   string // server name the connection points at
	key      connKey
	db       *sql.DB
	serverID uint32 // the target's @@server_id, read once per connection
}

// createHeartbeatTable is pt-heartbeat's schema, so pt-heartbeat --check can
// read Switchyard's heartbeat and pt-heartbeat --update can replace the writer.
const createHeartbeatTable = `CREATE TABLE IF NOT EXISTS %s (
  ts varchar(26) NOT NULL,
  server_id int unsigned NOT NULL PRIMARY KEY,
  file varchar(255) DEFAULT NULL,
  position bigint unsigned DEFAULT NULL,
  relay_master_log_file varchar(255) DEFAULT NULL,
  exec_master_log_pos bigint unsigned DEFAULT NULL
)`

// writeHeartbeats writes a heartbeat every health.heartbeat_interval while
// health.heartbeat is on and the view names a primary.
func (m *Monitor) writeHeartbeats(ctx context.Context) {
	defer m.wg.Done()
	w := &heartbeatWriter{m: m}
	defer w.close()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		set := m.settings()
		if set.heartbeat {
			if err := w.beat(ctx, set); err != nil && ctx.Err() == nil {
				// A primary that is read_only, down or being replaced is
				// expected during failover; lag falls back meanwhile.
				m.log.Debug("heartbeat not written", "server", w.target, "err", err)
			}
		} else {
			w.close()
		}
		t.Reset(max(set.heartbeatInterval-time.Since(start), 0))
	}
}

func (w *heartbeatWriter) close() {
	if w.db != nil {
		w.db.Close()
		w.db, w.target, w.serverID = nil, "", 0
	}
}

// beat writes one heartbeat and records the timestamp it wrote.
func (w *heartbeatWriter) beat(ctx context.Context, set *settings) error {
	primary := w.m.view.Load().PrimaryServer()
	if primary == nil {
		w.close()
		return nil
	}
	key := set.connKey(primary.Addr)
	if w.db == nil || w.target != primary.Name || w.key != key {
		w.close()
		db, err := openDB(key, w.m.log)
		if err != nil {
			return err
		}
		w.db, w.target, w.key = db, primary.Name, key
	}
	ctx, cancel := context.WithTimeout(ctx, set.timeout)
	defer cancel()
	if w.serverID == 0 {
		if err := w.db.QueryRowContext(ctx, "SELECT @@server_id").Scan(&w.serverID); err != nil {
			return fmt.Errorf("read server_id: %w", err)
		}
	}
	sent := time.Now()
	ts, err := w.write(ctx, set)
	var me *mysql.MySQLError
	if errors.As(err, &me) && (me.Number == 1146 || me.Number == 1049) { // no such table / database
		err = w.createTable(ctx, set)
		if err == nil {
			sent = time.Now()
			ts, err = w.write(ctx, set)
		}
	}
	if err != nil {
		w.serverID = 0 // the address may now hold another server
		return err
	}
	t, err := parseTS(ts)
	if err != nil {
		return fmt.Errorf("heartbeat ts %q: %w", ts, err)
	}
	w.m.beats.record(w.serverID, t, sent, true)
	return nil
}

// write replaces the primary's heartbeat row and reads it back in one round
// trip. The server id is a literal and the write is conditional on read_only
// being off, inside the statement: the monitor user may bypass read_only
// (READ_ONLY ADMIN), and a heartbeat on a demoted primary would be an errant
// transaction. On a read_only server no row changes and nothing is binlogged;
// the read-back then returns the old timestamp, which records nothing new.
func (w *heartbeatWriter) write(ctx context.Context, set *settings) (string, error) {
	q := fmt.Sprintf("REPLACE INTO %[1]s (ts, server_id) "+
		"SELECT DATE_FORMAT(UTC_TIMESTAMP(6), '%%Y-%%m-%%dT%%H:%%i:%%s.%%f'), %[2]d FROM DUAL WHERE @@global.read_only = 0; "+
		"SELECT ts FROM %[1]s WHERE server_id = %[2]d", set.heartbeatTable, w.serverID)
	rows, err := w.db.QueryContext(ctx, q)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var ts string
	for ok := true; ok; ok = rows.NextResultSet() {
		for rows.Next() {
			if err := rows.Scan(&ts); err != nil {
				return "", err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	if ts == "" {
		return "", errors.New("heartbeat row missing after write (read_only?)")
	}
	return ts, nil
}

// createTable creates the heartbeat database and table, only on a writable
// server: CREATE ... IF NOT EXISTS is binlogged even when nothing is created.
func (w *heartbeatWriter) createTable(ctx context.Context, set *settings) error {
	var readOnly int
	if err := w.db.QueryRowContext(ctx, "SELECT @@global.read_only").Scan(&readOnly); err != nil {
		return fmt.Errorf("read read_only: %w", err)
	}
	if readOnly != 0 {
		return errors.New("heartbeat table missing and the primary is read_only")
	}
	q := "CREATE DATABASE IF NOT EXISTS " + set.heartbeatDB + "; " + fmt.Sprintf(createHeartbeatTable, set.heartbeatTable)
	if _, err := w.db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("create heartbeat table %s: %w", set.heartbeatTable, err)
	}
	w.m.log.Info("created heartbeat table", "server", w.target, "table", set.heartbeatTable)
	return nil
}
