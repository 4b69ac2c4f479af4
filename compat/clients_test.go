package compat

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// client is one client library driven by a script in clients/.
type client struct {
	name     string   // subtest name; also names the client's databases
	argv     []string // the script and its interpreter
	check    []string // a command that succeeds when the runtime and library are installed
	apt      string   // the Debian packages that provide them
	skip     string   // "FINDING-N: ..." while a known proxy bug breaks this client
	noTLS    bool     // the library cannot easily do TLS
	extraEnv []string // added to the environment of the check and the script
}

var clients = []client{
	{name: "pymysql", argv: []string{"python3", "clients/dbapi.py", "pymysql"},
		check: []string{"python3", "-c", "import pymysql"}, apt: "python3-pymysql"},
	{name: "mysqlclient", argv: []string{"python3", "clients/dbapi.py", "MySQLdb"},
		check: []string{"python3", "-c", "import MySQLdb"}, apt: "python3-mysqldb"},
	{name: "mysqli", argv: []string{"php", "-d", "mysqli.allow_local_infile=1", "clients/mysqli.php"},
		check: []string{"php", "-r", "exit(extension_loaded('mysqli') ? 0 : 1);"}, apt: "php-cli php-mysql"},
	{name: "pdo_mysql", argv: []string{"php", "clients/pdo.php"},
		check: []string{"php", "-r", "exit(extension_loaded('pdo_mysql') ? 0 : 1);"}, apt: "php-cli php-mysql", noTLS: true},
	{name: "connectorj", argv: []string{"java", "-cp", "/usr/share/java/mariadb-java-client.jar", "clients/Compat.java"},
		check: []string{"sh", "-c", "command -v java && test -f /usr/share/java/mariadb-java-client.jar"}, apt: "libmariadb-java openjdk-17-jre-headless"},
	{name: "dbd_mariadb", argv: []string{"perl", "clients/dbi.pl", "MariaDB"},
		check: []string{"perl", "-MDBD::MariaDB", "-e1"}, apt: "libdbd-mariadb-perl", noTLS: true},
	{name: "dbd_mysql", argv: []string{"perl", "clients/dbi.pl", "mysql"},
		check: []string{"perl", "-MDBD::mysql", "-e1"}, apt: "libdbd-mysql-perl", noTLS: true},
	{name: "mysql2", argv: []string{"ruby", "clients/mysql2.rb"},
		check: []string{"ruby", "-rmysql2", "-e1"}, apt: "ruby-mysql2"},
	{name: "node_mysql", argv: []string{"node", "clients/node-mysql.js"},
		check: []string{"node", "-e", "require('mysql')"}, apt: "nodejs node-mysql",
		extraEnv: []string{"NODE_PATH=/usr/share/nodejs"}},
	{name: "mariadb_cli", argv: []string{"sh", "clients/cli.sh"},
		check: []string{"mariadb", "--version"}, apt: "mariadb-client"},
}

// python3 must be Debian's: the apt packages install into its site-packages,
// and a pyenv shim earlier in PATH would not see them.
func init() {
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		for i := range clients {
			if clients[i].argv[0] == "python3" {
				clients[i].argv[0] = "/usr/bin/python3"
				clients[i].check[0] = "/usr/bin/python3"
			}
		}
	}
}

// TestClients runs every client's script through Switchyard and directly
// against the primary; the two outputs must be identical once database
// names are normalised.
func TestClients(t *testing.T) {
	e := newEnv(t)
	infile := writeInfile(t)
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			if c.skip != "" {
				t.Skip(c.skip)
			}
			check := exec.Command(c.check[0], c.check[1:]...)
			check.Env = append(os.Environ(), c.extraEnv...)
			if out, err := check.CombinedOutput(); err != nil {
				t.Skipf("\n\n*** SKIPPED: %s is not installed (%v: %s).\n*** Install it with: apt-get install -y %s  (or scripts/deps-compat.sh)\n",
					c.name, err, bytes.TrimSpace(out), c.apt)
			}
			e.createDBs(t, c)
			// The two runs use their own databases, so they can overlap:
			// most of a run is spent waiting on round trips and commits.
			var direct string
			done := make(chan struct{})
			go func() {
				defer close(done)
				direct = e.runClient(t, c, e.direct(), infile)
			}()
			proxy := e.runClient(t, c, e.proxy(), infile)
			<-done
			compareOutputs(t, c, direct, proxy)
		})
	}
	t.Run("unknown_database", func(t *testing.T) {
		for _, ep := range []endpoint{e.direct(), e.proxy()} {
			db, err := sql.Open("mysql", fmt.Sprintf("app:app@tcp(%s:%d)/no_such_db_compat", ep.host, ep.port))
			if err != nil {
				t.Fatal(err)
			}
			err = db.Ping()
			db.Close()
			var me *mysql.MySQLError
			if !errors.As(err, &me) || me.Number != 1049 {
				t.Errorf("via %s: connecting with an unknown database: %v, want error 1049", ep.name, err)
			}
		}
	})
}

// clientDBs names the two databases a client's run against ep uses.
// Same-length names for both runs keep column widths equal.
func clientDBs(c client, ep endpoint) (string, string) {
	db := "cx_" + c.name + "_" + ep.name[:1]
	return db, db + "_2"
}

// createDBs (re)creates the client's databases for both runs on the primary
// and waits until the replicas have them too: the proxy may send the
// client's first statements to a replica.
func (e *env) createDBs(t *testing.T, c client) {
	t.Helper()
	pdb := e.primaryDB(t)
	for _, ep := range []endpoint{e.direct(), e.proxy()} {
		db1, db2 := clientDBs(c, ep)
		for _, d := range []string{db1, db2} {
			if _, err := pdb.Exec("DROP DATABASE IF EXISTS " + d); err != nil {
				t.Fatal(err)
			}
			if _, err := pdb.Exec("CREATE DATABASE " + d + " CHARACTER SET utf8mb4"); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.sb.CatchUp(t, "db1", e.sb.Replicas()...)
}

// runClient runs the client's script against ep and returns its output
// with database names normalised. It may run outside the test goroutine.
func (e *env) runClient(t *testing.T, c client, ep endpoint, infile string) string {
	db1, db2 := clientDBs(c, ep)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	tls := "0"
	if ep.name == "proxy" && !c.noTLS {
		tls = "1"
	}
	cmd.Env = append(os.Environ(),
		"COMPAT_HOST="+ep.host,
		"COMPAT_PORT="+strconv.Itoa(ep.port),
		"COMPAT_USER=app",
		"COMPAT_PASSWORD=app",
		"COMPAT_DB="+db1,
		"COMPAT_DB2="+db2,
		"COMPAT_TLS="+tls,
		"COMPAT_INFILE="+infile,
		"COMPAT_LARGE="+strconv.Itoa(largeValue),
	)
	cmd.Env = append(cmd.Env, c.extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s via %s: %v", c.name, ep.name, time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Errorf("%s via %s: %v\nstdout:\n%s\nstderr:\n%s", c.name, ep.name, err, stdout.String(), stderr.String())
	}
	out := strings.ReplaceAll(stdout.String(), db2, "<db2>")
	return strings.ReplaceAll(out, db1, "<db>")
}

// compareOutputs requires the same lines in the same order. Lines starting
// with "tls:" come only from the proxy run (the sandbox servers have no
// certificates) and must report success.
func compareOutputs(t *testing.T, c client, direct, proxy string) {
	t.Helper()
	dl := strings.Split(strings.TrimRight(direct, "\n"), "\n")
	var pl []string
	for _, l := range strings.Split(strings.TrimRight(proxy, "\n"), "\n") {
		if strings.HasPrefix(l, "tls:") {
			if !strings.HasPrefix(l, "tls: ok") {
				t.Errorf("proxy TLS check failed: %s", l)
			}
			continue
		}
		pl = append(pl, l)
	}
	if strings.Contains(direct, ": FAILED") {
		t.Errorf("a check failed against the server directly: the script or the environment is wrong, not the proxy:\n%s", direct)
	}
	if len(dl) < 10 {
		t.Errorf("direct run printed only %d lines: the script did not get far:\n%s", len(dl), direct)
	}
	n := max(len(dl), len(pl))
	diffs := 0
	for i := range n {
		var d, p string
		if i < len(dl) {
			d = dl[i]
		}
		if i < len(pl) {
			p = pl[i]
		}
		if d != p {
			diffs++
			if diffs <= 20 {
				t.Errorf("line %d differs\n  direct: %s\n  proxy:  %s", i+1, d, p)
			}
		}
	}
	if diffs > 0 {
		t.Errorf("%s: %d differing lines; full outputs:\n--- direct\n%s\n--- proxy\n%s", c.name, diffs, direct, proxy)
	}
}

// writeInfile writes the CSV the clients load with LOAD DATA LOCAL INFILE.
func writeInfile(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for i := 1; i <= 1000; i++ {
		fmt.Fprintf(&b, "%d,row %d é\n", i, i)
	}
	path := filepath.Join(t.TempDir(), "infile.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
