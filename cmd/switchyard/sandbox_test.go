package main

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	_ "github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/sandbox"
	"github.com/switchyard/switchyard/sandbox/sandboxtest"
)

func TestSandboxCommandRoundTrip(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "sb")
	base := sandboxtest.FreePortRange(t, 2)
	// The CLI's nodes outlive it by design; make sure a failing test still
	// stops them.
	t.Cleanup(func() {
		if s, err := sandbox.Open(dir); err == nil {
			s.Down()
		}
	})
	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := runSandbox(args, &out); err != nil {
			t.Fatalf("sandbox %s: %v", strings.Join(args, " "), err)
		}
		return out.String()
	}

	out := run("up", "--dir", dir, "--replicas", "1", "--base-port", strconv.Itoa(base))
	for _, want := range []string{
		"mariadb -h127.0.0.1 -P6033 -uapp -papp",
		"mariadb -h127.0.0.1 -P6032 -uadmin -padmin",
		"http://127.0.0.1:9104/metrics",
		"db1  primary 127.0.0.1:" + strconv.Itoa(base),
		"db2  replica 127.0.0.1:" + strconv.Itoa(base+1),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("up output lacks %q:\n%s", want, out)
		}
	}
	cfg, err := config.Load(filepath.Join(dir, "switchyard.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Servers) != 2 || cfg.Servers[1].Address != "127.0.0.1:"+strconv.Itoa(base+1) || cfg.Listen.App != "127.0.0.1:6033" {
		t.Fatalf("written config: servers %+v, listen %+v", cfg.Servers, cfg.Listen)
	}

	var errOut bytes.Buffer
	if err := runSandbox([]string{"up", "--dir", dir}, &errOut); err == nil || !strings.Contains(err.Error(), "already holds a sandbox") {
		t.Fatalf("second up: %v", err)
	}

	run("kill", "--dir", dir, "db1")
	db, err := sql.Open("mysql", "app:app@tcp(127.0.0.1:"+strconv.Itoa(base)+")/")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err == nil {
		t.Fatal("db1 answers after sandbox kill")
	}
	run("start", "db1", "--dir", dir) // flags after the node name work too
	if err := db.Ping(); err != nil {
		t.Fatalf("db1 after sandbox start: %v", err)
	}

	run("down", "--dir", dir)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s exists after down", dir)
	}
	if err := db.Ping(); err == nil {
		t.Fatal("db1 answers after sandbox down")
	}
}

func TestSandboxCommandUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"launch"},
		{"up"},
		{"kill", "--dir", t.TempDir()},
		{"start", "--dir", t.TempDir(), "db1", "db2"},
		{"down", "--dir", t.TempDir()},
		{"up", "--dir", t.TempDir(), "--replicas", "-1"},
		{"up", "--dir", t.TempDir(), "--image", "mariadb:10.11"},         // needs --docker
		{"up", "--dir", t.TempDir(), "--network", "shop"},                // needs --docker
		{"up", "--dir", t.TempDir(), "--docker", "--base-port", "40000"}, // local only
		{"up", "--dir", t.TempDir(), "--docker", "--semi-sync"},          // local only
		{"up", "--dir", t.TempDir(), "--docker", "--replicas", "0"},
	} {
		if err := runSandbox(args, &bytes.Buffer{}); err == nil {
			t.Errorf("sandbox %q succeeded", args)
		}
	}
}
