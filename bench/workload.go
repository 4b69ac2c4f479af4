package bench

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Target is one endpoint a workload runs against.
type Target struct {
	Name string
	Addr string
	// Hint is prepended to statements: it lets the same workload run through
	// Switchyard with and without read/write splitting.
	Hint string
}

// primaryHint keeps a statement on the primary through Switchyard; MariaDB
// and the relay see an ordinary comment.
const primaryHint = "/* switchyard: route=primary */ "

// Workload is one benchmark: a statement pattern, a client concurrency and
// the targets it compares (the first is the baseline for ratios).
type Workload struct {
	Name    string
	Desc    string
	Conns   int
	Targets []string // target names from Targets
	op      opFunc
	// prepared runs the point select as a server-side prepared statement.
	prepared bool
	// dials: every operation opens its own connection, so workers hold none.
	dials bool
}

// opFunc runs one operation on a worker's connection and returns the result
// bytes it read. worker and seq let operations pick rows without contention.
type opFunc func(ctx context.Context, w *worker, seq int) (int64, error)

// Standard target names.
const (
	TargetDirect     = "direct"
	TargetRelay      = "relay"
	TargetSwitchyard = "switchyard"
	TargetPrimary    = "switchyard-primary" // route=primary hint
	TargetSplit      = "switchyard-split"   // read/write split (and RYW) as configured
)

// Workloads lists every workload in report order.
func Workloads() []Workload {
	three := []string{TargetDirect, TargetRelay, TargetSwitchyard}
	return []Workload{
		{Name: "point-select-1", Desc: "SELECT c FROM sbtest1 WHERE id=? (text protocol, interpolated), 1 connection", Conns: 1, Targets: three, op: pointSelect},
		{Name: "point-select-16", Desc: "same, 16 connections", Conns: 16, Targets: three, op: pointSelect},
		{Name: "point-select-prepared-16", Desc: "same as a server-side prepared statement (COM_STMT_EXECUTE), 16 connections", Conns: 16, Targets: three, op: pointSelect, prepared: true},
		{Name: "connect-1", Desc: "new connection + handshake, SELECT 1, disconnect; 1 thread", Conns: 1, Targets: three, op: connectSelect, dials: true},
		{Name: "connect-4", Desc: "same, 4 threads", Conns: 4, Targets: three, op: connectSelect, dials: true},
		{Name: "result-1mb", Desc: "SELECT of 1000 rows x 1 KiB (1 MiB result), 1 connection", Conns: 1, Targets: three, op: bigResult},
		{Name: "split-16", Desc: "read-only point selects, 16 connections: route=primary vs read/write split", Conns: 16, Targets: []string{TargetPrimary, TargetSplit}, op: pointSelect},
		{Name: "ryw-4", Desc: "UPDATE a row then SELECT it at once (one op), 4 connections: route=primary vs split with read-your-writes; a stale read counts as an error", Conns: 4, Targets: []string{TargetPrimary, TargetSplit}, op: writeThenRead},
	}
}

// worker is one client connection of a workload run.
type worker struct {
	id     int
	target Target
	conn   *sql.Conn
	stmt   *sql.Stmt
	dialer driver.Connector // for workloads that connect per operation
	query  string           // point select with the target's hint
}

const tableRows = 10000

func pointSelect(ctx context.Context, w *worker, seq int) (int64, error) {
	id := (seq*7919+w.id*104729)%tableRows + 1
	var c string
	var err error
	if w.stmt != nil {
		err = w.stmt.QueryRowContext(ctx, id).Scan(&c)
	} else {
		err = w.conn.QueryRowContext(ctx, w.query, id).Scan(&c)
	}
	return 0, err // latency workload: bytes are not its measure
}

// connectSelect dials a fresh connection for every operation, so it measures
// the handshake and authentication as much as the query.
func connectSelect(ctx context.Context, w *worker, _ int) (int64, error) {
	c, err := w.dialer.Connect(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	rows, err := c.(driver.QueryerContext).QueryContext(ctx, w.target.Hint+"SELECT 1", nil)
	if err != nil {
		return 0, err
	}
	dest := make([]driver.Value, 1)
	if err := rows.Next(dest); err != nil {
		rows.Close()
		return 0, err
	}
	if err := rows.Next(dest); err != io.EOF {
		rows.Close()
		return 0, fmt.Errorf("SELECT 1: want one row, got more (%v)", err)
	}
	return 1, rows.Close()
}

func bigResult(ctx context.Context, w *worker, _ int) (int64, error) {
	rows, err := w.conn.QueryContext(ctx, w.target.Hint+"SELECT id, c FROM bench.big")
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n, bytes int64
	var id int
	var c sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&id, &c); err != nil {
			return bytes, err
		}
		n++
		bytes += int64(len(c))
	}
	if err := rows.Err(); err != nil {
		return bytes, err
	}
	if n != bigRows {
		return bytes, fmt.Errorf("result: %d rows, want %d", n, bigRows)
	}
	return bytes, nil
}

// errStale is a read that did not see the write just acknowledged.
var errStale = errors.New("stale read: the row does not show the write just made")

// writeThenRead sets a row's k to a unique value and reads it back on the
// same connection; each worker owns its rows so the value is known.
func writeThenRead(ctx context.Context, w *worker, seq int) (int64, error) {
	id := w.id + 1 // one row per worker
	want := seq + 1
	if _, err := w.conn.ExecContext(ctx, w.target.Hint+"UPDATE bench.ryw SET k=? WHERE id=?", want, id); err != nil {
		return 0, err
	}
	var k int
	if err := w.conn.QueryRowContext(ctx, w.target.Hint+"SELECT k FROM bench.ryw WHERE id=?", id).Scan(&k); err != nil {
		return 0, err
	}
	if k != want {
		return 0, errStale
	}
	return 0, nil
}

// dsn is a go-sql-driver configuration for addr: interpolated parameters, so
// a parameterised statement is exactly one COM_QUERY round trip.
func dsn(addr, user, pass string) *mysql.Config {
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr = user, pass, "tcp", addr
	c.InterpolateParams = true
	c.Timeout = 5 * time.Second
	return c
}

// runOnce runs wl against t for d after a warm-up and returns what it
// measured. Errors are counted, not fatal, unless no worker can connect.
func runOnce(ctx context.Context, wl Workload, t Target, user, pass string, warmup, d time.Duration) (Sample, error) {
	connector, err := mysql.NewConnector(dsn(t.Addr, user, pass))
	if err != nil {
		return Sample{}, err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	db.SetMaxOpenConns(wl.Conns)
	db.SetMaxIdleConns(wl.Conns)

	workers := make([]*worker, wl.Conns)
	for i := range workers {
		w := &worker{id: i, target: t, dialer: connector, query: t.Hint + "SELECT c FROM bench.sbtest1 WHERE id=?"}
		if !wl.dials {
			if w.conn, err = db.Conn(ctx); err != nil {
				return Sample{}, fmt.Errorf("%s via %s: %w", wl.Name, t.Name, err)
			}
			defer w.conn.Close()
			if wl.prepared {
				if w.stmt, err = w.conn.PrepareContext(ctx, w.query); err != nil {
					return Sample{}, fmt.Errorf("%s via %s: prepare: %w", wl.Name, t.Name, err)
				}
				defer w.stmt.Close()
			}
		}
		workers[i] = w
	}

	var (
		ops, errs atomic.Int64
		bytes     atomic.Int64
		mu        sync.Mutex
		lat       []time.Duration
		firstErr  error
	)
	start := time.Now().Add(warmup)
	deadline := start.Add(d)
	runCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1<<14)
			for seq := 0; ; seq++ {
				t0 := time.Now()
				n, err := wl.op(runCtx, w, seq)
				el := time.Since(t0)
				// Compare clocks, not runCtx.Err(): on a loaded machine the
				// context's timer fires late, and operations failing on its
				// already passed deadline are not outcomes.
				if t0.Add(el).After(deadline) {
					break
				}
				if t0.Before(start) {
					continue // warm-up
				}
				if err != nil {
					if errs.Add(1) == 1 {
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
					continue
				}
				ops.Add(1)
				bytes.Add(n)
				local = append(local, el)
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	s := Sample{Ops: ops.Load(), Errors: errs.Load(), Bytes: bytes.Load(), Latency: lat, Elapsed: d}
	if firstErr != nil {
		s.FirstError = firstErr.Error()
	}
	if s.Ops == 0 {
		return s, fmt.Errorf("%s via %s: no successful operation (first error: %v)", wl.Name, t.Name, firstErr)
	}
	return s, nil
}
