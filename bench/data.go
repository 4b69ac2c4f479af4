package bench

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

const (
	bigRows   = 1000 // bench.big: 1000 rows of 1 KiB = a 1 MiB result
	rywRows   = 64   // bench.ryw: one row per read-your-writes worker
	benchWait = 30 * time.Second
)

// prepareData (re)creates the bench schema on the primary: a sysbench-like
// sbtest1 of tableRows rows, the 1 MiB result table and the read-your-writes
// rows, then waits until every configured server has them, so replica reads
// find the same data.
func prepareData(ctx context.Context, e *Env) error {
	db, err := open(e.PrimaryAddr(), e.User, e.Pass)
	if err != nil {
		return err
	}
	defer db.Close()
	stmts := []string{
		"CREATE DATABASE IF NOT EXISTS bench",
		"DROP TABLE IF EXISTS bench.sbtest1, bench.big, bench.ryw",
		`CREATE TABLE bench.sbtest1 (id INT NOT NULL PRIMARY KEY, k INT NOT NULL DEFAULT 0,
			c CHAR(120) NOT NULL DEFAULT '', pad CHAR(60) NOT NULL DEFAULT '', KEY k_1 (k)) ENGINE=InnoDB`,
		"CREATE TABLE bench.big (id INT NOT NULL PRIMARY KEY, c VARCHAR(1024) NOT NULL) ENGINE=InnoDB",
		"CREATE TABLE bench.ryw (id INT NOT NULL PRIMARY KEY, k INT NOT NULL) ENGINE=InnoDB",
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("bench: prepare: %s: %w", firstLine(s), err)
		}
	}
	if err := insertRows(ctx, db, "bench.sbtest1 (id, k, c, pad)", tableRows, func(i int) string {
		return fmt.Sprintf("(%d,%d,'%s','%s')", i, i*31%tableRows, strings.Repeat(fmt.Sprintf("%011d-", i), 10)[:119], strings.Repeat("p", 59))
	}); err != nil {
		return err
	}
	if err := insertRows(ctx, db, "bench.big (id, c)", bigRows, func(i int) string {
		return fmt.Sprintf("(%d,REPEAT('%c',1024))", i, 'a'+i%26)
	}); err != nil {
		return err
	}
	if err := insertRows(ctx, db, "bench.ryw (id, k)", rywRows, func(i int) string {
		return fmt.Sprintf("(%d,0)", i)
	}); err != nil {
		return err
	}
	return waitReplicated(ctx, e, "SELECT COUNT(*) FROM bench.ryw", rywRows)
}

func insertRows(ctx context.Context, db *sql.DB, into string, n int, row func(i int) string) error {
	const batch = 500
	for lo := 1; lo <= n; lo += batch {
		vals := make([]string, 0, batch)
		for i := lo; i < lo+batch && i <= n; i++ {
			vals = append(vals, row(i))
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO "+into+" VALUES "+strings.Join(vals, ",")); err != nil {
			return fmt.Errorf("bench: fill %s: %w", into, err)
		}
	}
	return nil
}

// waitReplicated waits until query returns want on every configured server.
func waitReplicated(ctx context.Context, e *Env, query string, want int) error {
	for _, s := range e.Config.Servers {
		db, err := open(s.Address, e.User, e.Pass)
		if err != nil {
			return err
		}
		deadline := time.Now().Add(benchWait)
		for {
			var n int
			err := db.QueryRowContext(ctx, query).Scan(&n)
			if err == nil && n == want {
				break
			}
			if time.Now().After(deadline) {
				db.Close()
				return fmt.Errorf("bench: %s has not replicated (%s = %d, want %d; err %v) after %v", s.Name, query, n, want, err, benchWait)
			}
			time.Sleep(50 * time.Millisecond)
		}
		db.Close()
	}
	return nil
}

func open(addr, user, pass string) (*sql.DB, error) {
	c, err := mysql.NewConnector(dsn(addr, user, pass))
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
