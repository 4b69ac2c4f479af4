// Command entrypoint is PID 1 of the local MariaDB image
// (switchyard/mariadb-local). The image has no shell, so this static program
// does what the official mariadb image's shell entrypoint does, for the subset
// Switchyard uses: on an empty datadir it copies in the system tables
// bootstrapped when the image was built, starts a temporary socket-only
// server, applies the MARIADB_* environment and
// /docker-entrypoint-initdb.d/*.sql, stops it, and finally execs mariadbd
// with the container's arguments.
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

const (
	mariadbd   = "/usr/sbin/mariadbd"
	datadir    = "/var/lib/mysql"
	runDir     = "/run/mysqld"
	initSocket = runDir + "/init.sock"
	initDir    = "/docker-entrypoint-initdb.d"
	// templateDir holds a datadir bootstrapped when the image was built.
	templateDir = "/usr/share/switchyard/datadir"
	mysqlUID    = 999 // matches /etc/passwd in the image and the official image
	mysqlGID    = 999
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "entrypoint:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && (args[0] == "mariadbd" || args[0] == "mysqld") {
		args = args[1:]
	}
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			return fmt.Errorf("argument %q: this image only runs mariadbd; pass mariadbd options such as --server-id=2", a)
		}
	}
	if err := prepareDirs(); err != nil {
		return err
	}
	// The marker makes an initialization interrupted by a stop visible
	// instead of starting a server on half-made system tables.
	marker := filepath.Join(datadir, ".init-incomplete")
	if _, err := os.Stat(marker); err == nil {
		return fmt.Errorf("%s: an earlier initialization was interrupted; remove the volume and start again", datadir)
	}
	if _, err := os.Stat(filepath.Join(datadir, "mysql")); errors.Is(err, fs.ErrNotExist) {
		if err := os.WriteFile(marker, nil, 0o600); err != nil {
			return err
		}
		if err := initialize(args); err != nil {
			return fmt.Errorf("initialize %s: %w", datadir, err)
		}
		if err := os.Remove(marker); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	argv := append([]string{"mariadbd"}, args...)
	return syscall.Exec(mariadbd, argv, os.Environ())
}

// prepareDirs gives the mysql user the datadir (a fresh volume is owned by
// root) and the socket directory.
func prepareDirs() error {
	for _, d := range []string{datadir, runDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if os.Geteuid() != 0 {
		return nil
	}
	if err := os.Chown(runDir, mysqlUID, mysqlGID); err != nil {
		return err
	}
	return filepath.WalkDir(datadir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Uid == mysqlUID && st.Gid == mysqlGID {
			return nil
		}
		return os.Lchown(p, mysqlUID, mysqlGID)
	})
}

func initialize(args []string) error {
	start := time.Now()
	rootPassword, hasRootPassword := os.LookupEnv("MARIADB_ROOT_PASSWORD")
	if !hasRootPassword && os.Getenv("MARIADB_ALLOW_EMPTY_ROOT_PASSWORD") == "" {
		return errors.New("set MARIADB_ROOT_PASSWORD (or MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1)")
	}
	if err := copyTemplate(); err != nil {
		return fmt.Errorf("copy system tables from %s: %w", templateDir, err)
	}
	// The temporary server takes the container's options (so the init SQL
	// sees the real server_id and GTID domain) but is reachable only through
	// a socket, and must not start replication before the init SQL ran.
	tmp := exec.Command(mariadbd, append(append([]string{}, args...),
		"--skip-networking", "--socket="+initSocket, "--skip-slave-start",
		"--innodb-buffer-pool-load-at-startup=0")...)
	tmp.Stdout, tmp.Stderr = os.Stdout, os.Stderr
	if err := tmp.Start(); err != nil {
		return fmt.Errorf("start temporary server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- tmp.Wait() }()
	err := configure(rootPassword, exited)
	if err != nil {
		_ = tmp.Process.Kill()
		<-exited
		return err
	}
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("temporary server shutdown: %w", err)
		}
	case <-time.After(60 * time.Second):
		_ = tmp.Process.Kill()
		return errors.New("temporary server did not shut down within 60s")
	}
	fmt.Fprintf(os.Stderr, "entrypoint: datadir initialized in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// copyTemplate fills the empty datadir from the system tables bootstrapped
// when the image was built, which is several times faster than bootstrapping
// in every container.
func copyTemplate() error {
	return filepath.WalkDir(templateDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(templateDir, p)
		dst := filepath.Join(datadir, rel)
		if d.IsDir() {
			if err := os.MkdirAll(dst, 0o700); err != nil {
				return err
			}
		} else if err := copyFile(p, dst); err != nil {
			return err
		}
		if os.Geteuid() == 0 {
			return os.Lchown(dst, mysqlUID, mysqlGID)
		}
		return nil
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o660)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// configure waits for the temporary server, applies the environment and the
// init scripts, and shuts the server down.
func configure(rootPassword string, exited <-chan error) error {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr = "root", "unix", initSocket
	cfg.InterpolateParams = true
	cfg.MultiStatements = true
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	db.SetMaxOpenConns(1) // one session: SET sql_log_bin must cover what follows
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	for db.PingContext(ctx) != nil {
		select {
		case err := <-exited:
			return fmt.Errorf("temporary server exited: %v", err)
		case <-ctx.Done():
			return errors.New("temporary server did not accept connections within 120s")
		case <-time.After(100 * time.Millisecond):
		}
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, st := range envStatements(rootPassword) {
		if _, err := conn.ExecContext(ctx, st.query, st.args...); err != nil {
			return fmt.Errorf("%s: %w", st.describe(), err)
		}
	}
	if err := runInitScripts(ctx, conn); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "SHUTDOWN"); err != nil {
		return fmt.Errorf("SHUTDOWN: %w", err)
	}
	return nil
}

type statement struct {
	query string
	args  []any
}

// describe names a statement for an error without its arguments, which may
// be passwords.
func (s statement) describe() string {
	q, _, _ := strings.Cut(s.query, " IDENTIFIED")
	return q
}

// envStatements turns the supported MARIADB_* variables into SQL, outside the
// binary log like the official image, so every node of a replication
// topology can create the same users without conflicting GTIDs.
func envStatements(rootPassword string) []statement {
	rootHost := envOr("MARIADB_ROOT_HOST", "%")
	sts := []statement{
		{query: "SET SESSION sql_log_bin=0"},
		// Only root@localhost survives; the passwordless root@127.0.0.1
		// and root@::1 of the bootstrap go.
		{query: "DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1'"},
		{query: "ALTER USER 'root'@'localhost' IDENTIFIED BY ?", args: []any{rootPassword}},
	}
	if rootHost != "localhost" {
		sts = append(sts,
			statement{query: "CREATE USER 'root'@? IDENTIFIED BY ?", args: []any{rootHost, rootPassword}},
			statement{query: "GRANT ALL ON *.* TO 'root'@? WITH GRANT OPTION", args: []any{rootHost}})
	}
	database := os.Getenv("MARIADB_DATABASE")
	if database != "" {
		sts = append(sts, statement{query: "CREATE DATABASE IF NOT EXISTS " + quoteIdent(database)})
	}
	if user := os.Getenv("MARIADB_USER"); user != "" {
		sts = append(sts, statement{query: "CREATE USER ?@'%' IDENTIFIED BY ?", args: []any{user, os.Getenv("MARIADB_PASSWORD")}})
		if database != "" {
			sts = append(sts, statement{query: "GRANT ALL ON " + quoteIdent(database) + ".* TO ?@'%'", args: []any{user}})
		}
	}
	return sts
}

// runInitScripts executes /docker-entrypoint-initdb.d/*.sql in name order in
// one session. Without a shell, *.sh scripts cannot run; they are reported.
func runInitScripts(ctx context.Context, conn *sql.Conn) error {
	entries, err := os.ReadDir(initDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if _, err := conn.ExecContext(ctx, "SET SESSION sql_log_bin=1"); err != nil {
		return err
	}
	for _, name := range names {
		if !strings.HasSuffix(name, ".sql") {
			fmt.Fprintf(os.Stderr, "entrypoint: ignoring %s/%s: only *.sql is supported (no shell in this image)\n", initDir, name)
			continue
		}
		b, err := os.ReadFile(filepath.Join(initDir, name))
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "entrypoint: running %s/%s\n", initDir, name)
		if _, err := conn.ExecContext(ctx, string(b)); err != nil {
			return fmt.Errorf("%s/%s: %w", initDir, name, err)
		}
	}
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
