package compat

import (
	"database/sql"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

const (
	sbTables    = 4
	sbTableSize = 5000
)

// TestSysbench runs sysbench oltp_read_write (8 threads) through Switchyard
// with server-side prepared statements on and off, requires zero errors
// (InnoDB deadlocks excepted: they are legitimate under this load, happen
// against the server directly too, and the client is expected to retry),
// unchanged table sizes and identical table checksums on every node, and
// logs a tps comparison with the primary reached directly.
func TestSysbench(t *testing.T) {
	if _, err := exec.LookPath("sysbench"); err != nil {
		t.Skip("\n\n*** SKIPPED: sysbench is not installed. Install it with: apt-get install -y sysbench (or make deps)\n")
	}
	e := newEnv(t)
	pdb := e.primaryDB(t)
	if _, err := pdb.Exec("CREATE DATABASE sbtest"); err != nil {
		t.Fatal(err)
	}
	direct := e.direct()
	if out, err := exec.Command("sysbench", append(sysbenchArgs(direct, "auto", 4, 0), "prepare")...).CombinedOutput(); err != nil {
		t.Fatalf("sysbench prepare: %v\n%s", err, out)
	}
	for _, mode := range []string{"auto", "disable"} {
		tps := runSysbench(t, e.proxy(), mode, 20*time.Second)
		t.Logf("through Switchyard, ps-mode %s: %.1f tps", mode, tps)
		checkSysbenchTables(t, e, pdb)
	}
	tps := runSysbench(t, direct, "auto", 10*time.Second)
	t.Logf("directly against the primary, ps-mode auto: %.1f tps", tps)
}

func sysbenchArgs(ep endpoint, psMode string, threads int, d time.Duration) []string {
	return []string{"oltp_read_write", "--db-driver=mysql",
		"--mysql-host=" + ep.host, "--mysql-port=" + strconv.Itoa(ep.port),
		"--mysql-user=app", "--mysql-password=app", "--mysql-db=sbtest",
		"--tables=" + strconv.Itoa(sbTables), "--table-size=" + strconv.Itoa(sbTableSize),
		"--threads=" + strconv.Itoa(threads), "--time=" + strconv.Itoa(int(d.Seconds())),
		"--db-ps-mode=" + psMode, "--mysql-ignore-errors=" + sbIgnore, "--report-interval=0"}
}

// sbIgnore lets sysbench retry InnoDB deadlocks (1213) and 1020 (record
// changed since last read); any other error aborts the run.
const sbIgnore = "1213,1020"

var (
	sbErrors     = regexp.MustCompile(`ignored errors:\s+(\d+)`)
	sbReconnects = regexp.MustCompile(`reconnects:\s+(\d+)`)
	sbTx         = regexp.MustCompile(`transactions:\s+(\d+)\s+\(([\d.]+) per sec`)
)

// runSysbench runs oltp_read_write and returns its transactions per second.
func runSysbench(t *testing.T, ep endpoint, psMode string, d time.Duration) float64 {
	t.Helper()
	out, err := exec.Command("sysbench", append(sysbenchArgs(ep, psMode, 8, d), "run")...).CombinedOutput()
	if err != nil {
		t.Fatalf("sysbench run via %s (ps-mode %s): %v\n%s", ep.name, psMode, err, out)
	}
	em, tm := sbErrors.FindSubmatch(out), sbTx.FindSubmatch(out)
	if em == nil || tm == nil {
		t.Fatalf("sysbench output not understood:\n%s", out)
	}
	if string(tm[1]) == "0" {
		t.Fatalf("via %s, ps-mode %s: no transactions\n%s", ep.name, psMode, out)
	}
	if rm := sbReconnects.FindSubmatch(out); rm == nil || string(rm[1]) != "0" {
		t.Errorf("via %s, ps-mode %s: sysbench reconnected\n%s", ep.name, psMode, out)
	}
	t.Logf("via %s, ps-mode %s: %s transactions, %s deadlocks retried", ep.name, psMode, tm[1], em[1])
	tps, _ := strconv.ParseFloat(string(tm[2]), 64)
	return tps
}

// checkSysbenchTables requires every table to keep its size (each
// oltp_read_write transaction deletes one row and inserts it again) and
// every replica to hold the same data as the primary once it caught up.
func checkSysbenchTables(t *testing.T, e *env, pdb *sql.DB) {
	t.Helper()
	want := map[string]string{}
	for i := 1; i <= sbTables; i++ {
		tbl := fmt.Sprintf("sbtest.sbtest%d", i)
		var n int
		if err := pdb.QueryRow("SELECT COUNT(*) FROM " + tbl).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != sbTableSize {
			t.Errorf("%s has %d rows after the run, want %d", tbl, n, sbTableSize)
		}
		want[tbl] = checksum(t, pdb, tbl)
	}
	e.sb.CatchUp(t, "db1", e.sb.Replicas()...)
	for _, n := range e.sb.Nodes[1:] {
		db := e.sb.DB(t, n.Name)
		for tbl, sum := range want {
			if got := checksum(t, db, tbl); got != sum {
				t.Errorf("%s: %s checksum %s, primary %s", n.Name, tbl, got, sum)
			}
		}
	}
}

func checksum(t *testing.T, db *sql.DB, tbl string) string {
	t.Helper()
	var name, sum string
	if err := db.QueryRow("CHECKSUM TABLE "+tbl).Scan(&name, &sum); err != nil {
		t.Fatal(err)
	}
	return sum
}
