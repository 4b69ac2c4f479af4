package health

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/gtid"
	"github.com/switchyard/switchyard/topology"
)

// probe is what one check read from a server.
type probe struct {
	sentAt      time.Time
	serverID    uint32
	readOnly    bool
	gtid        gtid.Set // applied position
	slavePos    gtid.Set // MariaDB gtid_slave_pos
	gtidBinlog  gtid.Set
	replica     *replicaStatus // nil: no replication source configured
	semiSource  bool
	semiReplica bool
	beats       map[uint32]time.Time // heartbeat rows by server_id; nil without a table
}

// replicaStatus is the part of SHOW SLAVE STATUS the monitor publishes.
type replicaStatus struct {
	sourceAddr string
	ioRunning  string // Yes | Connecting | No
	sqlRunning string // Yes | No
	ioErrno    int
	sqlErrno   int
	ioError    string
	sqlError   string
	behind     sql.NullInt64 // Seconds_Behind_Master
}

func (r *replicaStatus) io() bool  { return r.ioRunning == "Yes" }
func (r *replicaStatus) sql() bool { return r.sqlRunning == "Yes" }

// errText joins the threads' last errors.
func (r *replicaStatus) errText() string {
	var parts []string
	if r.ioErrno != 0 {
		parts = append(parts, fmt.Sprintf("io %d: %s", r.ioErrno, r.ioError))
	}
	if r.sqlErrno != 0 {
		parts = append(parts, fmt.Sprintf("sql %d: %s", r.sqlErrno, r.sqlError))
	}
	return strings.Join(parts, "; ")
}

// conn is a monitor's connection to one server. Flavor and version are read
// once per connection, because a restart may have changed them.
type conn struct {
	db      *sql.DB
	key     connKey
	c       *sql.Conn
	flavor  topology.Flavor
	version string
	major   [3]int
}

// connKey is everything a connection was opened with; a change reopens it.
type connKey struct {
	addr     string
	user     string
	password string
	timeout  time.Duration
}

// openDB opens a one-connection pool to a server. The driver's timeouts equal
// the check timeout, so a black-holed server cannot hold a check longer.
func openDB(k connKey, log *slog.Logger) (*sql.DB, error) {
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr = k.user, k.password, "tcp", k.addr
	c.Timeout, c.ReadTimeout, c.WriteTimeout = k.timeout, k.timeout, k.timeout
	c.InterpolateParams = true
	c.MultiStatements = true // one round trip per check
	c.Logger = driverLog{log}
	connector, err := mysql.NewConnector(c)
	if err != nil {
		return nil, fmt.Errorf("connection settings for %s: %w", k.addr, err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1) // one check at a time per server
	db.SetMaxIdleConns(1)
	return db, nil
}

// driverLog routes go-sql-driver's messages (reconnects, bad connections) to
// debug logs instead of stderr.
type driverLog struct{ log *slog.Logger }

func (d driverLog) Print(v ...any) {
	d.log.Debug(strings.TrimSpace(fmt.Sprint(v...)), "source", "mysql-driver")
}

// reset drops the held connection so the next check dials a new one. The
// connection is discarded, not returned to the pool: after a server-side error
// (say, privileges granted after it was opened) only a new one can succeed.
func (c *conn) reset() {
	if c.c != nil {
		c.c.Raw(func(any) error { return driver.ErrBadConn })
		c.c.Close()
		c.c = nil
	}
}

func (c *conn) close() {
	c.reset()
	if c.db != nil {
		c.db.Close()
		c.db = nil
	}
}

// ensure returns a live connection opened with k, detecting the flavor when
// it is new.
func (c *conn) ensure(ctx context.Context, k connKey, log *slog.Logger) error {
	if c.db != nil && c.key != k {
		c.close()
	}
	if c.db == nil {
		db, err := openDB(k, log)
		if err != nil {
			return err
		}
		c.db, c.key = db, k
	}
	if c.c != nil {
		return nil
	}
	sc, err := c.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	var version, comment string
	if err := sc.QueryRowContext(ctx, "SELECT @@version, @@version_comment").Scan(&version, &comment); err != nil {
		sc.Close()
		return fmt.Errorf("read version: %w", err)
	}
	c.c, c.version = sc, version
	c.flavor = topology.FlavorOf(version, comment)
	c.major = versionNumbers(version)
	return nil
}

// versionNumbers parses "8.0.36-log" into {8, 0, 36}.
func versionNumbers(v string) [3]int {
	var out [3]int
	for i, part := range strings.SplitN(v, ".", 3) {
		n := 0
		for _, r := range part {
			if r < '0' || r > '9' {
				break
			}
			n = n*10 + int(r-'0')
		}
		out[i] = n
	}
	return out
}

// semiSyncStatus lists both the old and the MySQL 8.0.26+ names.
const semiSyncStatus = "SHOW GLOBAL STATUS WHERE Variable_name IN (" +
	"'Rpl_semi_sync_master_status', 'Rpl_semi_sync_slave_status', " +
	"'Rpl_semi_sync_source_status', 'Rpl_semi_sync_replica_status')"

// query is the whole check: one round trip of several statements. The
// heartbeat table comes last because it may be missing, which ends the
// multi-statement with an error after everything else was read.
func (c *conn) query(heartbeatTable string) string {
	vars := "SELECT @@server_id, @@read_only, @@gtid_slave_pos, @@gtid_current_pos, @@gtid_binlog_pos"
	status := "SHOW ALL SLAVES STATUS"
	if c.flavor == topology.FlavorMySQL {
		vars = "SELECT @@server_id, @@read_only, @@gtid_executed"
		status = "SHOW SLAVE STATUS"
		if c.major[0] > 8 || c.major[0] == 8 && (c.major[1] > 0 || c.major[2] >= 22) {
			status = "SHOW REPLICA STATUS"
		}
	}
	return vars + "; " + status + "; " + semiSyncStatus + "; SELECT server_id, ts FROM " + heartbeatTable
}

// probe runs the check query and parses its four result sets.
func (c *conn) probe(ctx context.Context, heartbeatTable string) (*probe, error) {
	p := &probe{sentAt: time.Now()}
	rows, err := c.c.QueryContext(ctx, c.query(heartbeatTable))
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	defer rows.Close()
	if err := c.scanVars(rows, p); err != nil {
		return nil, err
	}
	if !rows.NextResultSet() {
		return nil, fmt.Errorf("replication status: %w", resultErr(rows))
	}
	if p.replica, err = scanReplica(rows); err != nil {
		return nil, fmt.Errorf("replication status: %w", err)
	}
	// A MariaDB replica's applied position is gtid_slave_pos (what
	// MASTER_GTID_WAIT waits for); a server replicating from nobody has
	// applied what it wrote: gtid_current_pos.
	if p.replica != nil && c.flavor == topology.FlavorMariaDB {
		p.gtid = p.slavePos
	}
	if !rows.NextResultSet() {
		return nil, fmt.Errorf("semi-sync status: %w", resultErr(rows))
	}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return nil, fmt.Errorf("semi-sync status: %w", err)
		}
		on := strings.EqualFold(value, "ON")
		switch strings.ToLower(name) {
		case "rpl_semi_sync_master_status", "rpl_semi_sync_source_status":
			p.semiSource = p.semiSource || on
		case "rpl_semi_sync_slave_status", "rpl_semi_sync_replica_status":
			p.semiReplica = p.semiReplica || on
		}
	}
	// A missing or unreadable heartbeat table only means "no heartbeat":
	// lag then falls back to Seconds_Behind_Master.
	if rows.NextResultSet() {
		p.beats = map[uint32]time.Time{}
		for rows.Next() {
			var id uint32
			var ts string
			if err := rows.Scan(&id, &ts); err != nil {
				return nil, fmt.Errorf("heartbeat: %w", err)
			}
			if t, err := parseTS(ts); err == nil {
				p.beats[id] = t
			}
		}
	}
	if err := rows.Err(); err != nil && !isServerError(err) {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	return p, nil
}

// resultErr explains why an expected result set is missing.
func resultErr(rows *sql.Rows) error {
	if err := rows.Err(); err != nil {
		return err
	}
	return errors.New("result set missing")
}

// isServerError reports an error the server answered with (the connection
// is fine), as opposed to a network or protocol failure.
func isServerError(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me)
}

func (c *conn) scanVars(rows *sql.Rows, p *probe) error {
	if !rows.Next() {
		return fmt.Errorf("server variables: %w", resultErr(rows))
	}
	var readOnly int
	var err error
	if c.flavor == topology.FlavorMySQL {
		var executed string
		if err := rows.Scan(&p.serverID, &readOnly, &executed); err != nil {
			return fmt.Errorf("server variables: %w", err)
		}
		if p.gtid, err = gtid.ParseMySQL(strings.ReplaceAll(executed, "\n", "")); err != nil {
			return err
		}
		p.gtidBinlog = p.gtid
	} else {
		var slavePos, currentPos, binlogPos string
		if err := rows.Scan(&p.serverID, &readOnly, &slavePos, &currentPos, &binlogPos); err != nil {
			return fmt.Errorf("server variables: %w", err)
		}
		if p.gtid, err = gtid.ParseMariaDB(currentPos); err != nil {
			return err
		}
		if p.gtidBinlog, err = gtid.ParseMariaDB(binlogPos); err != nil {
			return err
		}
		if p.slavePos, err = gtid.ParseMariaDB(slavePos); err != nil {
			return err
		}
	}
	p.readOnly = readOnly != 0
	for rows.Next() {
	}
	return nil
}

// scanReplica reads SHOW [ALL] SLAVES|REPLICA STATUS by column name (MySQL
// 8.0.22 renamed Master to Source and Slave to Replica). With several
// sources (MariaDB multi-source) the default connection wins, else the first.
func scanReplica(rows *sql.Rows) (*replicaStatus, error) {
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	idx := make(map[string]int, len(cols))
	for i, c := range cols {
		idx[c] = i
	}
	get := func(vals []sql.NullString, names ...string) sql.NullString {
		for _, n := range names {
			if i, ok := idx[n]; ok {
				return vals[i]
			}
		}
		return sql.NullString{}
	}
	var out *replicaStatus
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		if out != nil && get(vals, "Connection_name").String != "" {
			continue
		}
		r := &replicaStatus{
			sourceAddr: net.JoinHostPort(get(vals, "Master_Host", "Source_Host").String, get(vals, "Master_Port", "Source_Port").String),
			ioRunning:  get(vals, "Slave_IO_Running", "Replica_IO_Running").String,
			sqlRunning: get(vals, "Slave_SQL_Running", "Replica_SQL_Running").String,
			ioError:    get(vals, "Last_IO_Error").String,
			sqlError:   get(vals, "Last_SQL_Error").String,
		}
		r.ioErrno, _ = strconv.Atoi(get(vals, "Last_IO_Errno").String)
		r.sqlErrno, _ = strconv.Atoi(get(vals, "Last_SQL_Errno").String)
		if b := get(vals, "Seconds_Behind_Master", "Seconds_Behind_Source"); b.Valid {
			n, err := strconv.ParseInt(b.String, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("Seconds_Behind_Master %q: %w", b.String, err)
			}
			r.behind = sql.NullInt64{Int64: n, Valid: true}
		}
		out = r
	}
	return out, rows.Err()
}
