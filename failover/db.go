package failover

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/gtid"
	"github.com/switchyard/switchyard/topology"
)

// dialTimeout bounds connecting to a server; statements are bounded by their
// context.
const dialTimeout = time.Second

// pools keeps one small *sql.DB per server, logged in as the monitor user.
type pools struct {
	mu  sync.Mutex
	dbs map[string]*pooled // by server name
}

type pooled struct {
	key string // address and user: a change reopens the pool
	db  *sql.DB
}

func (p *pools) get(name, addr string, cred config.Credentials) (*sql.DB, error) {
	key := addr + "\x00" + cred.User + "\x00" + cred.Password
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.dbs[name]; ok {
		if c.key == key {
			return c.db, nil
		}
		c.db.Close()
	}
	mc := mysql.NewConfig()
	mc.User, mc.Passwd, mc.Net, mc.Addr = cred.User, cred.Password, "tcp", addr
	mc.Timeout = dialTimeout
	mc.InterpolateParams = true
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(2)
	db.SetConnMaxIdleTime(time.Minute)
	if p.dbs == nil {
		p.dbs = map[string]*pooled{}
	}
	p.dbs[name] = &pooled{key: key, db: db}
	return db, nil
}

func (p *pools) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for n, c := range p.dbs {
		c.db.Close()
		delete(p.dbs, n)
	}
}

// execAll runs statements in order on one connection and stops at the first
// error. Errors carry the (redacted) statement.
func execAll(ctx context.Context, db *sql.DB, stmts ...string) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %s", redact(s), redact(err.Error()))
		}
	}
	return nil
}

// state is what failover reads from a server itself when it decides: fresher
// and more detailed (the received position) than the health observations.
type state struct {
	Flavor      topology.Flavor
	ServerID    uint32
	ReadOnly    bool
	Applied     gtid.Set // gtid_slave_pos / gtid_executed
	Binlog      gtid.Set // gtid_binlog_pos / gtid_executed
	Current     gtid.Set // gtid_current_pos / gtid_executed
	Received    gtid.Set // Gtid_IO_Pos / Retrieved_Gtid_Set ∪ executed; Applied when not a replica
	Replicating bool     // has a replication source configured
	SourceAddr  string
	IORunning   bool // Slave_IO_Running = Yes
	SQLRunning  bool
	SQLState    string // Slave_SQL_Running_State
	IOErrno     int
	ReplError   string
}

// readState queries a server's flavor, positions and replication status.
func readState(ctx context.Context, db *sql.DB) (state, error) {
	var st state
	var version string
	if err := db.QueryRowContext(ctx, "SELECT @@version").Scan(&version); err != nil {
		return st, fmt.Errorf("read version: %w", err)
	}
	st.Flavor = topology.FlavorOf(version, "")
	var applied, binlog, current string
	if err := db.QueryRowContext(ctx, positionSQL(st.Flavor)).Scan(&st.ServerID, &st.ReadOnly, &applied, &binlog, &current); err != nil {
		return st, fmt.Errorf("read positions: %w", err)
	}
	var err error
	if st.Applied, err = parseSet(st.Flavor, applied); err != nil {
		return st, err
	}
	if st.Binlog, err = parseSet(st.Flavor, binlog); err != nil {
		return st, err
	}
	if st.Current, err = parseSet(st.Flavor, current); err != nil {
		return st, err
	}
	st.Received = st.Applied
	row, err := queryRow(ctx, db, replicaStatusSQL(st.Flavor))
	if err != nil {
		return st, fmt.Errorf("read replica status: %w", err)
	}
	if row == nil {
		return st, nil
	}
	st.Replicating = true
	st.SourceAddr = col(row, "Master_Host", "Source_Host") + ":" + col(row, "Master_Port", "Source_Port")
	st.IORunning = col(row, "Slave_IO_Running", "Replica_IO_Running") == "Yes"
	st.SQLRunning = col(row, "Slave_SQL_Running", "Replica_SQL_Running") == "Yes"
	st.SQLState = col(row, "Slave_SQL_Running_State", "Replica_SQL_Running_State")
	fmt.Sscan(col(row, "Last_IO_Errno"), &st.IOErrno)
	st.ReplError = strings.TrimSpace(col(row, "Last_IO_Error") + " " + col(row, "Last_SQL_Error"))
	if st.Flavor == topology.FlavorMySQL {
		got, err := parseSet(st.Flavor, col(row, "Retrieved_Gtid_Set"))
		if err != nil {
			return st, err
		}
		if got.MySQL != nil {
			union := st.Applied.MySQL.Clone()
			if err := union.Update(got.MySQL.String()); err != nil {
				return st, fmt.Errorf("received set: %w", err)
			}
			st.Received = gtid.Set{MySQL: union}
		}
		return st, nil
	}
	if st.Received, err = parseSet(st.Flavor, col(row, "Gtid_IO_Pos")); err != nil {
		return st, err
	}
	// The IO position only covers what this connection received; what was
	// applied before (e.g. as a former primary) still counts.
	st.Received = mergeMariaDB(st.Received, st.Applied)
	return st, nil
}

func parseSet(f topology.Flavor, s string) (gtid.Set, error) {
	if f == topology.FlavorMySQL {
		return gtid.ParseMySQL(s)
	}
	return gtid.ParseMariaDB(s)
}

// mergeMariaDB keeps, per domain, the higher of two MariaDB positions.
func mergeMariaDB(a, b gtid.Set) gtid.Set {
	out := append([]gtid.GTID(nil), a.MariaDB...)
	for _, g := range b.MariaDB {
		i := slices.IndexFunc(out, func(x gtid.GTID) bool { return x.Domain == g.Domain })
		switch {
		case i < 0:
			out = append(out, g)
		case out[i].Seq < g.Seq:
			out[i] = g
		}
	}
	slices.SortFunc(out, func(x, y gtid.GTID) int { return cmp.Compare(x.Domain, y.Domain) })
	return gtid.Set{MariaDB: out}
}

// queryRow returns the first row of a statement as column name → value, or
// nil when it returns no row (SHOW SLAVE STATUS on a non-replica).
func queryRow(ctx context.Context, db *sql.DB, q string) (map[string]string, error) {
	rows, err := queryRows(ctx, db, q)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return rows[0], nil
}

// queryRows returns every row of a statement as column name → value (NULL
// as ""), for statements whose columns differ between flavors and versions.
func queryRows(ctx context.Context, db *sql.DB, q string) ([]map[string]string, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out []map[string]string
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make(map[string]string, len(cols))
		for i, c := range cols {
			row[c] = vals[i].String
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// col returns the first of the named columns present in row.
func col(row map[string]string, names ...string) string {
	for _, n := range names {
		if v, ok := row[n]; ok {
			return v
		}
	}
	return ""
}

// errIOFatal is the IO-thread error a source returns when the replica asks
// for a GTID it does not have: the replica's history diverged.
const errIOFatal = 1236
