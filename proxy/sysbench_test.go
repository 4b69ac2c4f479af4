package proxy

import (
	"net"
	"os/exec"
	"regexp"
	"testing"
)

// TestSysbench runs sysbench oltp_read_write through the proxy with and
// without server-side prepared statements and requires zero errors.
func TestSysbench(t *testing.T) {
	if testing.Short() {
		t.Skip("sysbench run skipped in -short mode")
	}
	if _, err := exec.LookPath("sysbench"); err != nil {
		t.Fatal("sysbench not installed")
	}
	e := newEnv(t, 1, nil)
	mustExec(t, e.sb.DB(t, "db1"), "CREATE DATABASE sbtest")
	host, port, _ := net.SplitHostPort(e.addr)
	base := []string{"oltp_read_write", "--db-driver=mysql", "--mysql-host=" + host, "--mysql-port=" + port,
		"--mysql-user=app", "--mysql-password=app", "--mysql-db=sbtest", "--tables=8", "--table-size=10000"}
	if out, err := exec.Command("sysbench", append(base, "--threads=4", "prepare")...).CombinedOutput(); err != nil {
		t.Fatalf("sysbench prepare: %v\n%s", err, out)
	}
	// No wait for the replica: statements it cannot prepare yet (tables
	// still replicating) are prepared on the primary.
	errLine := regexp.MustCompile(`ignored errors:\s+(\d+)`)
	txLine := regexp.MustCompile(`transactions:\s+(\d+)`)
	for _, mode := range []string{"auto", "disable"} {
		out, err := exec.Command("sysbench", append(base, "--threads=8", "--time=8", "--db-ps-mode="+mode, "run")...).CombinedOutput()
		if err != nil {
			t.Fatalf("sysbench run (ps-mode %s): %v\n%s", mode, err, out)
		}
		m, tx := errLine.FindSubmatch(out), txLine.FindSubmatch(out)
		if m == nil || tx == nil {
			t.Fatalf("sysbench output not understood:\n%s", out)
		}
		if string(m[1]) != "0" || string(tx[1]) == "0" {
			t.Fatalf("ps-mode %s: %s ignored errors, %s transactions\n%s", mode, m[1], tx[1], out)
		}
		t.Logf("ps-mode %s: %s transactions, 0 errors", mode, tx[1])
	}
}
