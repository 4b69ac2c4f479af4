package sandbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// bootTimeout bounds Up from the first spawn to replication running.
const bootTimeout = 60 * time.Second

// boot starts every node in parallel, attaches the replicas to db1 and waits
// until replication (and semi-sync, if enabled) is running.
func (s *Sandbox) boot(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	for _, n := range s.Nodes {
		if err := s.spawn(n); err != nil {
			return err
		}
	}
	if err := s.save(); err != nil {
		return err
	}
	if err := s.eachNode(func(n *Node) error { return s.waitReady(ctx, n) }); err != nil {
		return err
	}
	primary := s.Primary()
	err := s.eachNode(func(n *Node) error {
		if n == primary {
			return nil
		}
		return s.attach(ctx, n, primary)
	})
	if err != nil {
		return err
	}
	if s.SemiSync {
		return s.waitSemiSyncClients(ctx, primary, len(s.Nodes)-1)
	}
	return nil
}

// eachNode runs f for all nodes concurrently and joins their errors.
func (s *Sandbox) eachNode(f func(*Node) error) error {
	errs := make([]error, len(s.Nodes))
	var wg sync.WaitGroup
	for i, n := range s.Nodes {
		wg.Go(func() { errs[i] = f(n) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// attach points replica at primary with GTID auto-positioning and waits for
// both replication threads. The short heartbeat with slave_net_timeout=3
// makes a replica notice a silently dead primary within about three seconds.
func (s *Sandbox) attach(ctx context.Context, replica, primary *Node) error {
	db, err := sql.Open("mysql", s.DSN(replica.Name, AppUser, AppPassword))
	if err != nil {
		return err
	}
	defer db.Close()
	change := fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='%s', MASTER_PASSWORD='%s', "+
		"MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=0.5", primary.Port, ReplUser, ReplPassword)
	if _, err := db.ExecContext(ctx, change); err != nil {
		return fmt.Errorf("%s: CHANGE MASTER TO %s: %w", replica.Name, primary.Addr, err)
	}
	if _, err := db.ExecContext(ctx, "START SLAVE"); err != nil {
		return fmt.Errorf("%s: START SLAVE: %w", replica.Name, err)
	}
	return waitSlaveThreads(ctx, db, replica, func(io, sql string) bool { return io == "Yes" && sql == "Yes" })
}

// waitReplicationStarted waits, after a restart, until a node that has a
// primary configured has started its replication threads. The IO thread may
// still be connecting if its primary is down; that is not an error here.
func (s *Sandbox) waitReplicationStarted(ctx context.Context, n *Node) error {
	db, err := sql.Open("mysql", s.DSN(n.Name, AppUser, AppPassword))
	if err != nil {
		return err
	}
	defer db.Close()
	return waitSlaveThreads(ctx, db, n, func(io, sql string) bool {
		return io == "" || sql == "Yes" && io != "No"
	})
}

// waitSlaveThreads polls SHOW SLAVE STATUS until ok(Slave_IO_Running,
// Slave_SQL_Running) holds; both are "" when no primary is configured.
func waitSlaveThreads(ctx context.Context, db *sql.DB, n *Node, ok func(io, sql string) bool) error {
	var st map[string]string
	for {
		var err error
		st, err = SlaveStatus(ctx, db)
		if err != nil {
			return fmt.Errorf("%s: SHOW SLAVE STATUS: %w", n.Name, err)
		}
		if ok(st["Slave_IO_Running"], st["Slave_SQL_Running"]) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: replication not running: IO=%q SQL=%q last IO error %q, last SQL error %q",
				n.Name, st["Slave_IO_Running"], st["Slave_SQL_Running"], st["Last_IO_Error"], st["Last_SQL_Error"])
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Querier is a *sql.DB, *sql.Conn or *sql.Tx.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// SlaveStatus returns the single SHOW SLAVE STATUS row by column name, or an
// empty map when the server replicates from nobody.
func SlaveStatus(ctx context.Context, db Querier) (map[string]string, error) {
	rows, err := db.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	st := map[string]string{}
	if rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, c := range cols {
			st[c] = string(vals[i])
		}
	}
	return st, rows.Err()
}

// waitSemiSyncClients waits until want replicas have connected as
// semi-synchronous clients, so the first write already waits for an ack.
func (s *Sandbox) waitSemiSyncClients(ctx context.Context, primary *Node, want int) error {
	db, err := sql.Open("mysql", s.DSN(primary.Name, AppUser, AppPassword))
	if err != nil {
		return err
	}
	defer db.Close()
	var name, val string
	for {
		err := db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'").Scan(&name, &val)
		if err != nil {
			return fmt.Errorf("%s: semi-sync status: %w", primary.Name, err)
		}
		if n, _ := strconv.Atoi(val); n >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %s of %d semi-sync replicas connected", primary.Name, val, want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
