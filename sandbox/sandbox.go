// Package sandbox runs a real MariaDB GTID replication topology on loopback
// ports from the installed mariadbd: one primary (db1) and N replicas (db2,
// db3, ...). The CLI's `switchyard sandbox` and the test harness
// (sandbox/sandboxtest) share this code, so tests exercise the same topology
// a developer runs by hand.
package sandbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Users created on every sandbox node. The admin user is not a database user:
// it only appears in the generated proxy config for the admin port.
const (
	AppUser         = "app"
	AppPassword     = "app"
	AdminUser       = "admin"
	AdminPassword   = "admin"
	MonitorUser     = "switchyard_mon"
	MonitorPassword = "monitor"
	ReplUser        = "repl"
	ReplPassword    = "repl"
	// PlainUser is an application user as production should have one:
	// data and routine privileges, no SUPER or READ_ONLY ADMIN, so
	// read_only replicas refuse its writes. It is not in the generated config.
	PlainUser     = "plain"
	PlainPassword = "plain"
)

// DefaultBasePort is db1's port when neither BasePort nor Ports is given.
const DefaultBasePort = 23306

const stateFile = "sandbox.json"

// ErrExists is returned by Up when Dir already holds a sandbox (or other files).
var ErrExists = errors.New("directory already holds a sandbox")

// ErrPortInUse is returned by Up when a node's port is taken by another process.
var ErrPortInUse = errors.New("port in use")

// Options configure Up.
type Options struct {
	Dir      string // created if missing; must be empty
	Replicas int    // default 2; ignored when Ports is set (len(Ports)-1 replicas)
	BasePort int    // db1 listens here, db2 on BasePort+1, ...; default 23306
	Ports    []int  // explicit port per node; overrides BasePort
	SemiSync bool   // semi-synchronous replication (AFTER_SYNC, 1s timeout)
	Mariadbd string // default: mariadbd from PATH, else /usr/sbin/mariadbd

	// ExitWithParent kills the nodes when the process that started them dies
	// (Linux), so a crashed test binary cannot leak mariadbd. The CLI leaves
	// it off: `sandbox up` returns and the nodes keep running.
	ExitWithParent bool
}

// Node is one mariadbd of the sandbox.
type Node struct {
	Name     string `json:"name"`
	Port     int    `json:"port"`
	Addr     string `json:"addr"` // 127.0.0.1:port
	DataDir  string `json:"data_dir"`
	Pid      int    `json:"pid"` // 0 while stopped
	ServerID uint32 `json:"server_id"`

	dir string // DIR/<name>: my.cnf, error.log, socket
}

// Sandbox is a running (or partly stopped) topology. Its methods are safe for
// concurrent use; Node.Pid changes on Kill and Start.
type Sandbox struct {
	Dir      string  `json:"dir"`
	Nodes    []*Node `json:"nodes"`
	SemiSync bool    `json:"semi_sync"`
	Mariadbd string  `json:"mariadbd"`

	exitWithParent bool
	mu             sync.Mutex
	procs          map[string]*proc // processes started by this process
}

// Up creates and starts a topology in o.Dir and returns once every replica's
// IO and SQL threads are running. On failure it removes what it started.
func Up(ctx context.Context, o Options) (*Sandbox, error) {
	s, err := newSandbox(o)
	if err != nil {
		return nil, err
	}
	tpl, err := template(ctx, s.Mariadbd)
	if err != nil {
		return nil, err
	}
	for _, n := range s.Nodes {
		if err := checkPortFree(n.Port); err != nil {
			return nil, err
		}
	}
	if err := s.create(tpl); err != nil {
		_ = s.Down()
		return nil, err
	}
	if err := s.boot(ctx); err != nil {
		err = fmt.Errorf("sandbox up in %s: %w", s.Dir, err)
		if derr := s.Down(); derr != nil {
			err = errors.Join(err, derr)
		}
		return nil, err
	}
	return s, nil
}

func newSandbox(o Options) (*Sandbox, error) {
	if o.Dir == "" {
		return nil, errors.New("sandbox: Options.Dir is required")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); err == nil {
		return nil, fmt.Errorf("sandbox: %s: %w (run `switchyard sandbox down --dir %s` first)", dir, ErrExists, o.Dir)
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("sandbox: %s is not empty: %w", dir, ErrExists)
	}
	ports := o.Ports
	if len(ports) == 0 {
		replicas, base := o.Replicas, o.BasePort
		if replicas == 0 {
			replicas = 2
		}
		if base == 0 {
			base = DefaultBasePort
		}
		if replicas < 0 {
			return nil, fmt.Errorf("sandbox: replicas %d < 0", replicas)
		}
		for i := 0; i <= replicas; i++ {
			ports = append(ports, base+i)
		}
	} else if o.Replicas != 0 && o.Replicas != len(ports)-1 {
		return nil, fmt.Errorf("sandbox: %d ports given for %d replicas", len(ports), o.Replicas)
	}
	bin := o.Mariadbd
	if bin == "" {
		bin = findMariadbd()
	}
	s := &Sandbox{Dir: dir, SemiSync: o.SemiSync, Mariadbd: bin, exitWithParent: o.ExitWithParent}
	for i, p := range ports {
		if p <= 0 || p > 65535 {
			return nil, fmt.Errorf("sandbox: invalid port %d", p)
		}
		name := "db" + strconv.Itoa(i+1)
		nd := filepath.Join(dir, name)
		s.Nodes = append(s.Nodes, &Node{
			Name: name, Port: p, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(p)),
			DataDir: filepath.Join(nd, "data"), ServerID: uint32(i + 1), dir: nd,
		})
	}
	return s, nil
}

// Open loads the sandbox described by DIR/sandbox.json, e.g. to stop or
// restart nodes from another process than the one that ran Up.
func Open(dir string) (*Sandbox, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(abs, stateFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("sandbox: no sandbox in %s (missing %s)", abs, stateFile)
		}
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	s := &Sandbox{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("sandbox: %s: %w", filepath.Join(abs, stateFile), err)
	}
	for _, n := range s.Nodes {
		n.dir = filepath.Join(s.Dir, n.Name)
	}
	return s, nil
}

// Node returns the node called name, or nil.
func (s *Sandbox) Node(name string) *Node {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Primary returns db1, the node Up made primary. Failover may have moved the
// role since; ask the servers (or the topology) for the current one.
func (s *Sandbox) Primary() *Node { return s.Nodes[0] }

// DSN returns a go-sql-driver/mysql DSN for a direct connection to the node.
func (s *Sandbox) DSN(name, user, password string) string {
	n := s.Node(name)
	if n == nil {
		return ""
	}
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr = user, password, "tcp", n.Addr
	c.Timeout = 2 * time.Second
	return c.FormatDSN()
}

// TB is the part of testing.TB that DB needs.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// DB opens a connection pool to the node as the app user, closed by t.Cleanup.
func (s *Sandbox) DB(t TB, name string) *sql.DB {
	t.Helper()
	if s.Node(name) == nil {
		t.Fatalf("sandbox: no node %q", name)
	}
	db, err := sql.Open("mysql", s.DSN(name, AppUser, AppPassword))
	if err != nil {
		t.Fatalf("sandbox: open %s: %v", name, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Down kills every node this sandbox started (by pid) and removes Dir.
func (s *Sandbox) Down() error {
	s.refresh()
	var errs []error
	for _, n := range s.Nodes {
		if err := s.kill(n); err != nil && !errors.Is(err, errNotRunning) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := os.RemoveAll(s.Dir); err != nil {
		return fmt.Errorf("sandbox down: %w", err)
	}
	return nil
}

// Kill sends SIGKILL to the node and waits until it is gone.
func (s *Sandbox) Kill(name string) error {
	n := s.Node(name)
	if n == nil {
		return fmt.Errorf("sandbox: no node %q", name)
	}
	s.refresh()
	if err := s.kill(n); err != nil {
		return err
	}
	return s.save()
}

// Start restarts a stopped node on its data and waits until it accepts
// connections. A replica resumes replicating from its configured primary. A
// node comes back with its original configuration: db1 writable, replicas
// read_only, whatever roles failover has given them since.
func (s *Sandbox) Start(name string) error {
	n := s.Node(name)
	if n == nil {
		return fmt.Errorf("sandbox: no node %q", name)
	}
	s.refresh()
	if s.alive(n) {
		return fmt.Errorf("sandbox: %s is already running (pid %d)", name, n.Pid)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := s.spawn(n); err != nil {
		return err
	}
	if err := s.save(); err != nil {
		return err
	}
	if err := s.waitReady(ctx, n); err != nil {
		return err
	}
	return s.waitReplicationStarted(ctx, n)
}

// refresh takes the pids from the state file, which another handle (another
// process running `switchyard sandbox start`, or Open in a test) may have
// updated, so a node restarted elsewhere is still found and killed here.
func (s *Sandbox) refresh() {
	o, err := Open(s.Dir)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, on := range o.Nodes {
		if n := s.Node(on.Name); n != nil {
			n.Pid = on.Pid
		}
	}
}

// save writes the state file atomically so a concurrent Open never sees half of it.
func (s *Sandbox) save() error {
	// Held through the rename: concurrent saves share the temporary file,
	// and the last state marshalled must be the one left on disk.
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	tmp := filepath.Join(s.Dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("sandbox: write state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.Dir, stateFile)); err != nil {
		return fmt.Errorf("sandbox: write state: %w", err)
	}
	return nil
}

func checkPortFree(port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("sandbox: 127.0.0.1:%d: %w", port, ErrPortInUse)
	}
	return l.Close()
}

// CatchUp waits until every named replica has applied everything primary
// has binlogged so far, so a test's setup is visible to reads on replicas.
func (s *Sandbox) CatchUp(t TB, primary string, replicas ...string) {
	t.Helper()
	var pos string
	if err := s.DB(t, primary).QueryRow("SELECT @@gtid_binlog_pos").Scan(&pos); err != nil {
		t.Fatalf("sandbox: %s gtid_binlog_pos: %v", primary, err)
	}
	for _, r := range replicas {
		var res sql.NullInt64
		if err := s.DB(t, r).QueryRow("SELECT MASTER_GTID_WAIT(?, 60)", pos).Scan(&res); err != nil || !res.Valid || res.Int64 != 0 {
			t.Fatalf("sandbox: %s did not apply %s from %s within 60s: %v %v", r, pos, primary, res, err)
		}
	}
}

// Replicas names every node but db1.
func (s *Sandbox) Replicas() []string {
	var names []string
	for _, n := range s.Nodes[1:] {
		names = append(names, n.Name)
	}
	return names
}
