package compat

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestGoSQLDriverSuite runs go-sql-driver/mysql's own test suite (the
// version in go.sum, from the module cache) through Switchyard: another
// project's tests, written against a real server, must all pass.
func TestGoSQLDriverSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("another project's test suite: skipped in -short mode")
	}
	out, err := exec.Command("go", "mod", "download", "-json", "github.com/go-sql-driver/mysql").Output()
	if err != nil {
		t.Fatalf("go mod download: %v", err)
	}
	var mod struct{ Dir, Version string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download: %v (%s)", err, out)
	}
	// The module cache is read-only and the suite writes files (LOAD DATA).
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(mod.Dir)); err != nil {
		t.Fatal(err)
	}

	e := newEnv(t)
	if _, err := e.primaryDB(t).Exec("CREATE DATABASE gotest"); err != nil {
		t.Fatal(err)
	}
	e.sb.CatchUp(t, "db1", e.sb.Replicas()...)
	cmd := exec.Command("go", "test", "-count=1", "-v",
		// It dials a black-holed address and, here, panics in the driver's
		// logger before timing out: it tests the driver, not a server.
		"-skip", "TestConnectorReturnsTimeout", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "MYSQL_TEST_USER=app", "MYSQL_TEST_PASS=app",
		"MYSQL_TEST_ADDR="+e.app.AppAddr(), "MYSQL_TEST_DBNAME=gotest", "MYSQL_TEST_CONCURRENT=1")
	res, err := cmd.CombinedOutput()
	passed := len(regexp.MustCompile(`(?m)^\s*--- PASS`).FindAll(res, -1))
	failed := regexp.MustCompile(`(?m)^\s*--- FAIL.*$`).FindAll(res, -1)
	if err != nil || len(failed) > 0 {
		t.Fatalf("go-sql-driver %s suite through Switchyard: %v, %d passed, failed:\n%s\n\n%s", mod.Version, err, passed, joinLines(failed), tail(res, 4000))
	}
	if passed < 300 {
		t.Fatalf("only %d tests passed: did the suite reach the server?\n%s", passed, tail(res, 4000))
	}
	t.Logf("go-sql-driver %s: %d tests passed through Switchyard", mod.Version, passed)
}

func joinLines(lines [][]byte) string {
	s := make([]string, len(lines))
	for i, l := range lines {
		s[i] = string(l)
	}
	return strings.Join(s, "\n")
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
