package routing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/go-sql-driver/mysql"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/gtid"
	"github.com/switchyard/switchyard/sandbox"
	"github.com/switchyard/switchyard/sandbox/sandboxtest"
	"github.com/switchyard/switchyard/topology"
)

// The tests in this file check the classifier, ParseSet and read-your-writes
// against real MariaDB servers. One sandbox serves them all (starting one
// costs seconds).

var schema = []string{
	"CREATE DATABASE rt",
	"CREATE DATABASE db",
	"CREATE TABLE rt.t (id INT PRIMARY KEY, a INT, b INT, c INT, d DATETIME, x VARCHAR(20), name VARCHAR(20), " +
		"doc TEXT, update_count INT, for_update INT, into_x INT, lock_mode INT, get_lock_count INT, next_value INT, " +
		"value INT, `select` INT, `update` INT, `delete` INT, `from` INT, k INT, FULLTEXT (x)) ENGINE=InnoDB",
	"CREATE TABLE db.t LIKE rt.t",
	"CREATE TABLE db.`for` (`update` INT)",
	"CREATE TABLE rt.t1 (id INT PRIMARY KEY, a INT, b INT, x INT)",
	"CREATE TABLE rt.t2 LIKE rt.t1",
	"CREATE TABLE rt.u LIKE rt.t1",
	"CREATE TABLE rt.orders (id INT PRIMARY KEY, user_id INT, customer_id INT, status VARCHAR(10), created_at DATETIME)",
	"CREATE TABLE rt.customers (id INT PRIMARY KEY, name VARCHAR(20), region INT)",
	"CREATE TABLE rt.docs (doc TEXT)",
	"CREATE TABLE rt.stats (found_rows INT, last_insert_id INT)",
	"CREATE TABLE rt.`insert` (`select` INT, `update` INT, `delete` INT)",
	"CREATE TABLE rt.`update` (`delete` INT, `from` INT)",
	"CREATE TABLE rt.`for` (`update` INT)",
	"CREATE TABLE rt.`my``table` (id INT)",
	"CREATE TABLE rt.nextval_log (id INT)",
	"CREATE TABLE rt.users (name VARCHAR(20))",
	"CREATE TABLE rt.sbtest1 (id INT PRIMARY KEY, k INT, c CHAR(120), pad CHAR(60))",
	"CREATE TABLE rt.`tàble` (`ünïcödé` INT)",
	"CREATE TABLE rt.history (id INT) WITH SYSTEM VERSIONING",
	"CREATE SEQUENCE rt.s",
	"INSERT INTO rt.t (id, a, b, c, x, name) VALUES (1, 1, 2, 3, 'x', 'n'), (2, 2, 3, 4, 'y', 'm')",
	"INSERT INTO rt.t1 VALUES (1, 1, 1, 1)",
	"INSERT INTO rt.u VALUES (1, 1, 1, 1)",
}

// startSandbox starts db1 (primary), db2, db3, loads the schema and waits
// until both replicas have it.
func startSandbox(t *testing.T) *sandbox.Sandbox {
	t.Helper()
	if testing.Short() {
		t.Skip("starts MariaDB servers")
	}
	sb := sandboxtest.New(t, sandboxtest.Replicas(2))
	primary := sb.DB(t, "db1")
	for _, q := range schema {
		if _, err := primary.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	sb.CatchUp(t, "db1", "db2", "db3")
	return sb
}

// openDB opens a pool with extra DSN settings.
func openDB(t *testing.T, sb *sandbox.Sandbox, node, user, pass string, mod func(*mysql.Config)) *sql.DB {
	t.Helper()
	c, err := mysql.ParseDSN(sb.DSN(node, user, pass))
	if err != nil {
		t.Fatal(err)
	}
	mod(c)
	db, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// runAll runs a (multi-)statement and reads every result, returning the
// first error.
func runAll(ctx context.Context, c *sql.Conn, q string) error {
	rows, err := c.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for {
		for rows.Next() {
		}
		if !rows.NextResultSet() {
			break
		}
	}
	return rows.Err()
}

func errNumber(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

func TestAgainstServer(t *testing.T) {
	sb := startSandbox(t)
	t.Run("ReplicaSafeStatementsRunOnReadOnlyReplica", func(t *testing.T) { testReplicaSafeOnReplica(t, sb) })
	t.Run("ParseSetReplayMatchesServer", func(t *testing.T) { testSetReplay(t, sb) })
	t.Run("ReadYourWritesWithRealGTIDs", func(t *testing.T) { testRYW(t, sb) })
}

// Every statement of the table that Classify calls replica-safe runs on a
// replica in a read-only session (tx_read_only=1: every statement is its own
// read-only transaction): the server never refuses one of them as a write
// (ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION 1792). The data writes of the
// table are refused, which shows the check can fail.
func testReplicaSafeOnReplica(t *testing.T, sb *sandbox.Sandbox) {
	ctx := context.Background()
	replica := openDB(t, sb, "db2", sandbox.AppUser, sandbox.AppPassword, func(c *mysql.Config) {
		c.DBName = "rt"
		c.MultiStatements = true
		c.Params = map[string]string{"max_statement_time": "5", "tx_read_only": "1"}
	})
	conn, err := replica.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var readOnly int
	if err := conn.QueryRowContext(ctx, "SELECT @@tx_read_only").Scan(&readOnly); err != nil || readOnly != 1 {
		t.Fatalf("tx_read_only = %d, %v", readOnly, err)
	}
	ran, refused, writes := 0, 0, 0
	for _, c := range loadStatements(t) {
		cls := Classify([]byte(c.sql))
		if !cls.ReplicaSafe() {
			// Plain data writes must be refused by the replica.
			if w := oracleFirstWord(c.sql); (w == "INSERT" || w == "UPDATE" || w == "DELETE" || w == "REPLACE") &&
				cls.Flags&FlagMultiStatement == 0 && !strings.Contains(c.sql, "EXPLAIN") {
				writes++
				if err := runAll(ctx, conn, c.sql); errNumber(err) == 1792 {
					refused++
				}
			}
			continue
		}
		err := runAll(ctx, conn, c.sql)
		switch n := errNumber(err); {
		case err == nil:
			ran++
		case n == 1792:
			t.Errorf("statements.txt:%d: %q is replica-safe but the replica refused it as a write: %v", c.line, c.sql, err)
		case n == 0:
			t.Fatalf("statements.txt:%d: %q: %v", c.line, c.sql, err)
		}
	}
	t.Logf("%d replica-safe statements ran without error on the replica; %d of %d data writes refused", ran, refused, writes)
	if ran < 150 {
		t.Errorf("only %d replica-safe statements ran successfully: the check proves little", ran)
	}
	if writes < 30 || refused < writes*9/10 {
		t.Errorf("the server refused %d of %d writes: is the session read-only?", refused, writes)
	}
}

// stateQuery reads the session state the SET statements below change.
const stateQuery = "SELECT @@session.sql_mode, @@session.time_zone, @@session.autocommit, @@session.character_set_client, " +
	"@@session.character_set_results, @@session.collation_connection, @@session.tx_isolation, @@session.tx_read_only, " +
	"@@session.wait_timeout, @@session.unique_checks, @@session.foreign_key_checks, @@session.max_statement_time, " +
	"@@session.group_concat_max_len, @@session.character_set_connection, " +
	"COALESCE(@a, 'NULL'), COALESCE(@b, 'NULL'), COALESCE(@old_sql_mode, 'NULL'), COALESCE(@`my var`, 'NULL'), COALESCE(@c, 'NULL')"

func sessionState(ctx context.Context, t *testing.T, c *sql.Conn) string {
	t.Helper()
	cols := make([]sql.NullString, 19)
	ptrs := make([]any, len(cols))
	for i := range cols {
		ptrs[i] = &cols[i]
	}
	if err := c.QueryRowContext(ctx, stateQuery).Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, v := range cols {
		fmt.Fprintf(&b, "%s|", v.String)
	}
	return b.String()
}

// A SET statement and the items ParseSet splits it into, written back as one
// SET on another connection, leave the same session state: names, scopes
// and values are split exactly. (Replaying items one by one differs when a
// value reads a variable the same statement assigns, "SET @a = 5, @b = @a",
// because the server evaluates every value before assigning any; see
// docs/sections/routing.md.)
func testSetReplay(t *testing.T, sb *sandbox.Sandbox) {
	ctx := context.Background()
	// no idle connections: each Conn below is a new session
	db := openDB(t, sb, "db1", sandbox.AppUser, sandbox.AppPassword, func(*mysql.Config) {})
	db.SetMaxIdleConns(0)
	stmts := []string{
		"SET autocommit = 0",
		"SET AUTOCOMMIT=OFF, unique_checks = 0",
		"SET sql_mode = 'STRICT_ALL_TABLES'",
		"SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_ZERO_DATE')",
		"SET @@session.time_zone = '+02:00', @@local.wait_timeout = 77",
		"SET LOCAL foreign_key_checks = 0, max_statement_time = 2.5",
		"SET NAMES utf8mb4",
		"SET NAMES 'latin1' COLLATE 'latin1_german2_ci'",
		"SET NAMES utf8mb4 COLLATE utf8mb4_bin, group_concat_max_len = 4096",
		"SET CHARACTER SET cp1251",
		"SET CHARSET 'utf8mb3'",
		"SET @a = 1, @b = 'two, three'",
		"SET @a := -1.5e3, @`my var` = 'x''y'",
		"SET @a = NULL, @b = TRUE",
		"SET @a = 0x41, @b = b'1000001'",
		"SET @a = CONCAT('x', 'y'), @b = (SELECT 1 + 1)",
		"/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */",
		"SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
		"SET SESSION TRANSACTION READ ONLY",
		"SET @a = 5, @b = @a + 1, @c = @b * 2",
		"SET @@sql_mode = 'ANSI_QUOTES', @a = \"dq\"",
		"SET character_set_results = NULL",
		"SET time_zone = DEFAULT",
	}
	for _, q := range stmts {
		items, ok := ParseSet([]byte(q), nil)
		if !ok {
			t.Errorf("ParseSet(%q) failed", q)
			continue
		}
		orig, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		replay, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := orig.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		re, ok := rebuildSet(items)
		if !ok {
			t.Fatalf("%q: items %s cannot be rebuilt", q, fmtItems(items))
		}
		if _, err := replay.ExecContext(ctx, re); err != nil {
			t.Fatalf("%q: replaying %q: %v", q, re, err)
		}
		if a, b := sessionState(ctx, t, orig), sessionState(ctx, t, replay); a != b {
			t.Errorf("%q: replayed state differs:\noriginal %s\nreplayed %s", q, a, b)
		}
		orig.Close()
		replay.Close()
	}
}

// serverSnapshot builds a topology snapshot from what the servers report:
// roles from the sandbox layout, applied GTID positions from the servers.
func serverSnapshot(ctx context.Context, t *testing.T, sb *sandbox.Sandbox) *topology.Snapshot {
	t.Helper()
	snap := &topology.Snapshot{Primary: "db1"}
	for _, n := range sb.Nodes {
		s := topology.Server{Name: n.Name, Addr: n.Addr, Reachable: true, Weight: 100, LagEligible: true, Role: topology.RoleReplica}
		q := "SELECT @@gtid_slave_pos"
		if n.Name == "db1" {
			s.Role, q = topology.RolePrimary, "SELECT @@gtid_binlog_pos"
		}
		var pos string
		if err := sb.DB(t, n.Name).QueryRowContext(ctx, q).Scan(&pos); err != nil {
			t.Fatal(err)
		}
		set, err := gtid.ParseMariaDB(pos)
		if err != nil {
			t.Fatal(err)
		}
		s.GTID = set
		snap.Servers = append(snap.Servers, s)
	}
	return snap
}

// A session's write, identified by the GTID the primary reports for it, is
// visible on whichever replica Decide picks without waiting; a replica whose
// SQL thread is stopped is never picked for it.
func testRYW(t *testing.T, sb *sandbox.Sandbox) {
	ctx := context.Background()
	r := mustRouter(t, nil)
	for _, n := range []string{"db2", "db3"} {
		if _, err := sb.DB(t, n).ExecContext(ctx, "STOP SLAVE SQL_THREAD"); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, n := range []string{"db2", "db3"} {
			sb.DB(t, n).Exec("START SLAVE SQL_THREAD")
		}
	})
	primary, err := sb.DB(t, "db1").Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	sel := []byte("SELECT a FROM rt.t WHERE id = 100")
	for i := 0; i < 3; i++ {
		if _, err := primary.ExecContext(ctx, "REPLACE INTO rt.t (id, a) VALUES (100, ?)", i); err != nil {
			t.Fatal(err)
		}
		var last string
		if err := primary.QueryRowContext(ctx, "SELECT @@last_gtid").Scan(&last); err != nil {
			t.Fatal(err)
		}
		g, err := gtid.ParseGTID(last)
		if err != nil {
			t.Fatal(err)
		}
		s := &SessionInput{User: "app", HasGTID: true, LastGTID: g}

		// Both replicas stopped: nobody covers the write; wait on one.
		d := r.Decide(Classify(sel), sel, s, serverSnapshot(ctx, t, sb), nil)
		if !d.WaitGTID || d.Route != RouteReplica {
			t.Fatalf("write %s not applied anywhere: %+v", g, d)
		}
		var res int
		if err := sb.DB(t, d.Server).QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, 0.05)", last).Scan(&res); err != nil || res != -1 {
			t.Fatalf("MASTER_GTID_WAIT on stopped %s = %d, %v; want timeout -1", d.Server, res, err)
		}

		// db2 applies it: every read for this session goes to db2 and sees the row.
		if _, err := sb.DB(t, "db2").ExecContext(ctx, "START SLAVE SQL_THREAD"); err != nil {
			t.Fatal(err)
		}
		if err := sb.DB(t, "db2").QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, 10)", last).Scan(&res); err != nil || res != 0 {
			t.Fatalf("db2 did not apply %s: %d %v", last, res, err)
		}
		snap := serverSnapshot(ctx, t, sb)
		for k := 0; k < 10; k++ {
			d := r.Decide(Classify(sel), sel, s, snap, nil)
			if d.Server != "db2" || d.WaitGTID {
				t.Fatalf("covered write %s: %+v (db3 has not applied it)", g, d)
			}
			var a int
			if err := sb.DB(t, d.Server).QueryRowContext(ctx, string(sel)).Scan(&a); err != nil || a != i {
				t.Fatalf("read on %s: a = %d, %v; want %d", d.Server, a, err, i)
			}
		}
		if _, err := sb.DB(t, "db2").ExecContext(ctx, "STOP SLAVE SQL_THREAD"); err != nil {
			t.Fatal(err)
		}
	}
	// With read-your-writes off, the stale replica is fine.
	off := mustRouter(t, func(c *config.Config) { c.Routing.ReadYourWrites = "off" })
	snap := serverSnapshot(ctx, t, sb)
	d := off.Decide(Classify(sel), sel, &SessionInput{HasGTID: true, LastGTID: gtid.GTID{Seq: 1 << 40}}, snap, nil)
	if d.Route != RouteReplica || d.WaitGTID {
		t.Fatalf("ryw off: %+v", d)
	}
}
