package proxy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/topology"
)

// TestWriteHold: writes wait while the gate is held and run on the new
// primary once it opens; past the hold deadline they fail with 1205.
func TestWriteHold(t *testing.T) {
	e := newEnv(t, 1, func(c *config.Config) { c.Failover.MaxHold = config.Duration(2 * time.Second) })
	c := e.conn(t, "")
	mustExec(t, c, "CREATE TABLE IF NOT EXISTS test.h (id INT PRIMARY KEY)")
	// db2 becomes writable, as a promotion would make it.
	mustExec(t, e.sb.DB(t, "db2"), "SET GLOBAL read_only = 0")

	e.view.Update(func(s *topology.Snapshot) {
		s.Gate, s.HoldUntil, s.Reason = topology.WritesHeld, time.Now().Add(10*time.Second), "test failover"
	})
	done := make(chan error, 1)
	go func() {
		_, err := c.ExecContext(context.Background(), "INSERT INTO test.h VALUES (1)")
		done <- err
	}()
	// Reads do not wait for the gate.
	r := e.conn(t, "")
	if got := queryString(t, r, "SELECT 42"); got != "42" {
		t.Fatal(got)
	}
	select {
	case err := <-done:
		t.Fatalf("write finished while held: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	e.view.Update(func(s *topology.Snapshot) {
		s.Primary, s.Gate, s.Epoch = "db2", topology.WritesOpen, s.Epoch+1
		s.Server("db1").Role = topology.RoleFenced
		s.Server("db2").Role = topology.RolePrimary
	})
	if err := <-done; err != nil {
		t.Fatalf("held write: %v", err)
	}
	// It ran on db2 only.
	if got := queryString(t, e.sb.DB(t, "db2"), "SELECT COUNT(*) FROM test.h WHERE id = 1"); got != "1" {
		t.Fatal("held write not on the new primary")
	}
	if st := e.srv.Stats(); st.HeldWrites == 0 {
		t.Fatal("held write not counted")
	}

	// Held past the deadline: 1205.
	e.view.Update(func(s *topology.Snapshot) {
		s.Gate, s.HoldUntil = topology.WritesHeld, time.Now().Add(500*time.Millisecond)
	})
	_, err := c.ExecContext(context.Background(), "INSERT INTO test.h VALUES (2)")
	if mysqlErr(err) != 1205 || !strings.Contains(err.Error(), "no writable primary") {
		t.Fatalf("want 1205, got %v", err)
	}
	// Blocked: at once, with the reason.
	e.view.Update(func(s *topology.Snapshot) { s.Gate, s.Reason = topology.WritesBlocked, "split brain suspected" })
	t0 := time.Now()
	_, err = c.ExecContext(context.Background(), "INSERT INTO test.h VALUES (3)")
	if err == nil || !strings.Contains(err.Error(), "split brain suspected") || time.Since(t0) > time.Second {
		t.Fatalf("blocked: %v after %v", err, time.Since(t0))
	}
	if got := queryString(t, c, "SELECT 7"); got != "7" {
		t.Fatal("client unusable after gate errors")
	}
}

// TestPrimaryKilled: a kill -9 of the primary leaves dead pooled
// connections; they are detected and replaced without client errors once
// the server is back, a transaction pinned to a former primary gets one
// 1213, and autocommit writes sent during the outage land on the new
// primary.
func TestPrimaryKilled(t *testing.T) {
	e := newEnv(t, 1, func(c *config.Config) {
		c.Failover.MaxHold = config.Duration(15 * time.Second)
		c.Pool.MinIdle = 3
	})
	db := e.db(t, "")
	db.SetMaxIdleConns(8)
	mustExec(t, db, "CREATE TABLE test.k (id INT PRIMARY KEY)")
	for i := 0; i < 8; i++ { // populate the pools
		mustExec(t, db, "SELECT 1")
	}
	// A dead replica: reads fall back to the primary before health notices.
	if err := e.sb.Kill("db2"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if got := queryString(t, db, "SELECT COUNT(*) FROM test.k"); got != "0" {
			t.Fatalf("read with the replica dead: %q", got)
		}
	}
	if err := e.sb.Start("db2"); err != nil {
		t.Fatal(err)
	}
	if err := e.sb.Kill("db1"); err != nil {
		t.Fatal(err)
	}
	if err := e.sb.Start("db1"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		mustExec(t, db, "INSERT INTO test.k VALUES (?)", i)
	}

	// A transaction open on db1 when the primary moves: one 1213, then fine.
	tx := e.conn(t, "")
	mustExec(t, tx, "BEGIN")
	mustExec(t, tx, "INSERT INTO test.k VALUES (100)")
	mustExec(t, e.sb.DB(t, "db2"), "SET GLOBAL read_only = 0")
	if err := e.sb.Kill("db1"); err != nil {
		t.Fatal(err)
	}
	// An autocommit write during the outage waits for the failover.
	done := make(chan error, 1)
	go func() {
		_, err := db.Exec("INSERT INTO test.k VALUES (200)")
		done <- err
	}()
	time.Sleep(500 * time.Millisecond)
	e.view.Update(func(s *topology.Snapshot) {
		s.Primary, s.Epoch = "db2", s.Epoch+1
		s.Server("db1").Role, s.Server("db1").Reachable = topology.RoleFenced, false
		s.Server("db2").Role = topology.RolePrimary
	})
	if err := <-done; err != nil {
		t.Fatalf("write during failover: %v", err)
	}
	_, err := tx.ExecContext(context.Background(), "INSERT INTO test.k VALUES (101)")
	if mysqlErr(err) != 1213 || !strings.Contains(err.Error(), "primary failover") {
		t.Fatalf("want 1213, got %v", err)
	}
	mustExec(t, tx, "INSERT INTO test.k VALUES (102)")
	if got := queryString(t, e.sb.DB(t, "db2"), "SELECT GROUP_CONCAT(id ORDER BY id) FROM test.k WHERE id >= 100"); got != "102,200" {
		t.Fatalf("rows on the new primary: %q", got)
	}
	if st := e.srv.Stats(); st.FailoverAborts != 1 {
		t.Fatalf("failover aborts %d", st.FailoverAborts)
	}
}
