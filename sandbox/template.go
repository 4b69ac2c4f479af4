package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// bootstrapSQL runs once per template, so every node starts with identical
// users and databases (switchyard for the heartbeat, test for scratch tables)
// and no GTIDs: nothing needs to replicate before the replicas attach.
// The monitor user can monitor, promote, repoint and fence without SUPER:
// REPLICATION SLAVE ADMIN for STOP/CHANGE/START SLAVE and gtid_slave_pos,
// REPLICATION MASTER ADMIN for semi-sync settings, READ_ONLY ADMIN for
// SET GLOBAL read_only (it also lets this user write on a read_only server,
// so the heartbeat must only be written on the primary), CONNECTION ADMIN
// to kill client connections, and DELETE because pt-heartbeat uses REPLACE.
var bootstrapSQL = `FLUSH PRIVILEGES;
CREATE DATABASE switchyard;
CREATE DATABASE test;
` + appUserSQL("%") + appUserSQL("127.0.0.1") + appUserSQL("localhost") + `
CREATE USER '` + MonitorUser + `'@'%' IDENTIFIED BY '` + MonitorPassword + `';
GRANT PROCESS, RELOAD, REPLICA MONITOR, BINLOG MONITOR, REPLICATION SLAVE ADMIN, REPLICATION MASTER ADMIN, READ_ONLY ADMIN, CONNECTION ADMIN ON *.* TO '` + MonitorUser + `'@'%';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON switchyard.* TO '` + MonitorUser + `'@'%';
CREATE USER '` + PlainUser + `'@'%' IDENTIFIED BY '` + PlainPassword + `';
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, CREATE TEMPORARY TABLES, LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE ON *.* TO '` + PlainUser + `'@'%';
CREATE USER '` + ReplUser + `'@'%' IDENTIFIED BY '` + ReplPassword + `';
GRANT REPLICATION SLAVE ON *.* TO '` + ReplUser + `'@'%';
`

func appUserSQL(host string) string {
	return "CREATE USER '" + AppUser + "'@'" + host + "' IDENTIFIED BY '" + AppPassword + "';\n" +
		"GRANT ALL PRIVILEGES ON *.* TO '" + AppUser + "'@'" + host + "';\n"
}

// template returns a bootstrapped datadir for this mariadbd, creating it on
// first use. mariadb-install-db takes seconds; copying its result takes
// milliseconds. The cache lives in the temp dir keyed by the server version
// and bootstrap, is built under a file lock so parallel test binaries build it
// once, and appears atomically by rename.
func template(ctx context.Context, mariadbd string) (string, error) {
	ver, err := exec.CommandContext(ctx, mariadbd, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("sandbox: %s --version: %w (is MariaDB installed? run `make deps`)", mariadbd, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "v1\n%s\n%s\n%s\n%s", mariadbd, ver, bootstrapSQL, footprintOptions)
	base := filepath.Join(os.TempDir(), "switchyard-template-"+hex.EncodeToString(h.Sum(nil))[:12])
	data := filepath.Join(base, "data")
	if complete(base) {
		return data, nil
	}

	lock, err := os.OpenFile(base+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("sandbox: template lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("sandbox: template lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if complete(base) {
		return data, nil // built by another process while we waited
	}
	if err := os.RemoveAll(base); err != nil { // incomplete, e.g. aged out by a /tmp cleaner
		return "", fmt.Errorf("sandbox: %w", err)
	}

	tmp, err := os.MkdirTemp(os.TempDir(), "switchyard-template-build-")
	if err != nil {
		return "", fmt.Errorf("sandbox: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed into place
	sqlFile := filepath.Join(tmp, "bootstrap.sql")
	if err := os.WriteFile(sqlFile, []byte(bootstrapSQL), 0o600); err != nil {
		return "", fmt.Errorf("sandbox: %w", err)
	}
	cnf := filepath.Join(tmp, "my.cnf")
	if err := os.WriteFile(cnf, []byte("[mariadbd]\n"+footprintOptions), 0o644); err != nil {
		return "", fmt.Errorf("sandbox: %w", err)
	}
	args := []string{"--defaults-file=" + cnf, "--datadir=" + filepath.Join(tmp, "data"),
		"--skip-test-db", "--auth-root-authentication-method=socket", "--extra-file=" + sqlFile}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	install := filepath.Join(filepath.Dir(mariadbd), "..", "bin", "mariadb-install-db")
	if p, err := exec.LookPath("mariadb-install-db"); err == nil {
		install = p
	}
	if out, err := exec.CommandContext(ctx, install, args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("sandbox: bootstrap template datadir: %s: %w\n%s", install, err, out)
	}
	manifest, err := listFiles(filepath.Join(tmp, "data"))
	if err != nil {
		return "", fmt.Errorf("sandbox: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "manifest"), []byte(manifest), 0o644); err != nil {
		return "", fmt.Errorf("sandbox: %w", err)
	}
	if err := os.Remove(sqlFile); err != nil {
		return "", fmt.Errorf("sandbox: %w", err)
	}
	if err := os.Rename(tmp, base); err != nil {
		return "", fmt.Errorf("sandbox: %w", err)
	}
	return data, nil
}

// listFiles describes every file under dir as "path size" lines.
func listFiles(dir string) (string, error) {
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		fmt.Fprintf(&b, "%s %d\n", rel, info.Size())
		return nil
	})
	return b.String(), err
}

// complete reports whether the template under base still matches the
// manifest written when it was built.
func complete(base string) bool {
	want, err := os.ReadFile(filepath.Join(base, "manifest"))
	if err != nil {
		return false
	}
	got, err := listFiles(filepath.Join(base, "data"))
	return err == nil && got == string(want)
}
