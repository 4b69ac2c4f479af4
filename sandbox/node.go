package sandbox

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// startTimeout bounds a node's start, including InnoDB crash recovery after kill -9.
const startTimeout = 60 * time.Second

var errNotRunning = errors.New("not running")

// proc is a mariadbd started by this process; done closes once it is reaped.
type proc struct {
	pid  int
	done chan struct{}
}

func findMariadbd() string {
	if p, err := exec.LookPath("mariadbd"); err == nil {
		return p
	}
	return "/usr/sbin/mariadbd"
}

// create lays out DIR/<node>/{my.cnf,data} from the template datadir.
func (s *Sandbox) create(tpl string) error {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	for _, n := range s.Nodes {
		if err := copyTree(tpl, n.DataDir); err != nil {
			return fmt.Errorf("sandbox: copy template for %s: %w", n.Name, err)
		}
		if err := os.WriteFile(n.cnfPath(), []byte(s.cnf(n)), 0o644); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	return s.save()
}

func (n *Node) cnfPath() string { return filepath.Join(n.dir, "my.cnf") }

// LogPath is the node's mariadbd error log.
func (n *Node) LogPath() string { return filepath.Join(n.dir, "error.log") }

// socketPath keeps the unix socket under the 108-byte sun_path limit; mariadbd
// always opens one, and a long DIR would otherwise make it fail to start.
func (n *Node) socketPath() string {
	p := filepath.Join(n.dir, "mysqld.sock")
	if len(p) < 100 {
		return p
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("switchyard-%d.sock", n.Port))
}

// cnf is the node's option file. mariadbd reads only this file
// (--defaults-file), so /etc/mysql and a system server on 3306 do not matter.
func (s *Sandbox) cnf(n *Node) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[mariadbd]\n")
	fmt.Fprintf(&b, "datadir=%s\nport=%d\nbind-address=127.0.0.1\nsocket=%s\n", n.DataDir, n.Port, n.socketPath())
	fmt.Fprintf(&b, "pid-file=%s\nlog-error=%s\n", filepath.Join(n.dir, "mariadbd.pid"), n.LogPath())
	fmt.Fprintf(&b, "server-id=%d\nreport-host=127.0.0.1\nreport-port=%d\n", n.ServerID, n.Port)
	b.WriteString(nodeOptions)
	if n != s.Primary() {
		b.WriteString("read-only=ON\n")
	}
	if s.SemiSync {
		b.WriteString(semiSyncOptions)
	}
	return b.String()
}

// nodeOptions: GTID replication that notices a dead primary within seconds
// (slave_net_timeout with a 0.5s master heartbeat), a small memory footprint
// so many sandboxes fit on one machine, and durability against kill -9 of the
// process (the OS keeps what was written) rather than against power loss.
const nodeOptions = `skip-name-resolve
log-bin=mariadb-bin
relay-log=relay-bin
relay-log-recovery=ON
log-slave-updates=ON
gtid-strict-mode=ON
binlog-format=ROW
slave-net-timeout=3
innodb-flush-log-at-trx-commit=2
` + footprintOptions + `character-set-server=utf8mb4
collation-server=utf8mb4_general_ci
max-connections=500
`

// footprintOptions are shared with the template bootstrap so InnoDB starts on
// the copied files without resizing anything.
const footprintOptions = `performance-schema=OFF
innodb-buffer-pool-size=32M
innodb-log-file-size=16M
innodb-buffer-pool-load-at-startup=OFF
innodb-buffer-pool-dump-at-shutdown=OFF
key-buffer-size=4M
aria-pagecache-buffer-size=8M
`

// semiSyncOptions enable both sides on every node so any node can be promoted.
// AFTER_SYNC is the lossless wait point; after 1s without an ack the primary
// falls back to asynchronous replication instead of blocking writes.
const semiSyncOptions = `rpl-semi-sync-master-enabled=ON
rpl-semi-sync-slave-enabled=ON
rpl-semi-sync-master-timeout=1000
rpl-semi-sync-master-wait-point=AFTER_SYNC
`

// spawn starts the node's mariadbd in its own process group, with output in
// its error log rather than a pipe, so it outlives the starting process.
func (s *Sandbox) spawn(n *Node) error {
	logf, err := os.OpenFile(filepath.Join(n.dir, "mariadbd.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("sandbox: start %s: %w", n.Name, err)
	}
	defer logf.Close()
	args := []string{"--defaults-file=" + n.cnfPath()}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	cmd := exec.Command(s.Mariadbd, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr(s.exitWithParent)
	if err := startProcess(cmd); err != nil {
		return fmt.Errorf("sandbox: start %s: %w", n.Name, err)
	}
	p := &proc{pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	s.mu.Lock()
	if s.procs == nil {
		s.procs = map[string]*proc{}
	}
	s.procs[n.Name] = p
	n.Pid = p.pid
	s.mu.Unlock()
	return nil
}

// alive reports whether the node's recorded pid is a live mariadbd of this
// node: a pid from the state file may have been reused by another program.
func (s *Sandbox) alive(n *Node) bool {
	s.mu.Lock()
	pid, p := n.Pid, s.procs[n.Name]
	s.mu.Unlock()
	if pid == 0 {
		return false
	}
	if p != nil && p.pid == pid {
		select {
		case <-p.done:
			return false
		default:
			return true
		}
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(n.cnfPath())) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name; Z is an unreaped zombie.
	if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
		return false
	}
	return true
}

// kill sends SIGKILL and waits until the process is gone.
func (s *Sandbox) kill(n *Node) error {
	if !s.alive(n) {
		s.mu.Lock()
		n.Pid = 0
		s.mu.Unlock()
		return fmt.Errorf("sandbox: %s: %w", n.Name, errNotRunning)
	}
	s.mu.Lock()
	pid, p := n.Pid, s.procs[n.Name]
	s.mu.Unlock()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("sandbox: kill %s (pid %d): %w", n.Name, pid, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.alive(n) {
		if time.Now().After(deadline) {
			return fmt.Errorf("sandbox: %s (pid %d) still alive 30s after SIGKILL", n.Name, pid)
		}
		if p != nil && p.pid == pid {
			select {
			case <-p.done:
			case <-time.After(time.Second):
			}
			continue
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.mu.Lock()
	n.Pid = 0
	s.mu.Unlock()
	return nil
}

// waitReady connects until the node answers, failing fast if mariadbd exits.
func (s *Sandbox) waitReady(ctx context.Context, n *Node) error {
	db, err := sql.Open("mysql", s.DSN(n.Name, AppUser, AppPassword))
	if err != nil {
		return err
	}
	defer db.Close()
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err = db.PingContext(pctx)
		cancel()
		if err == nil {
			return nil
		}
		if !s.alive(n) {
			tail := n.logTail()
			if strings.Contains(tail, "Address already in use") {
				return fmt.Errorf("%s: %s: %w", n.Name, n.Addr, ErrPortInUse)
			}
			return fmt.Errorf("%s exited during start-up:\n%s", n.Name, tail)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not accepting connections on %s: %w (last error: %v)\n%s", n.Name, n.Addr, ctx.Err(), err, n.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// logTail is the end of the node's error log, for start-up failure messages.
func (n *Node) logTail() string {
	b, err := os.ReadFile(n.LogPath())
	if err != nil {
		return "(no error log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// copyTree copies the regular files and directories under src to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o750)
		}
		return copyFile(path, target)
	})
}

// copyFile copies src to dst sparsely: a fresh datadir is mostly zeros
// (redo log, system tablespace), so skipping zero blocks makes each node
// cost about 2 MB of writes instead of 34 MB.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	var off int64
	for {
		n, rerr := io.ReadFull(in, buf)
		if err := writeNonZero(out, buf[:n], off); err != nil {
			out.Close()
			return err
		}
		off += int64(n)
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			out.Close()
			return rerr
		}
	}
	if err := out.Truncate(off); err != nil { // extends over a trailing hole
		out.Close()
		return err
	}
	return out.Close()
}

const block = 4096

var zeroBlock [block]byte

// writeNonZero writes the runs of non-zero blocks of chunk at off.
func writeNonZero(out *os.File, chunk []byte, off int64) error {
	isZero := func(i int) bool {
		b := chunk[i:min(i+block, len(chunk))]
		return bytes.Equal(b, zeroBlock[:len(b)])
	}
	for i := 0; i < len(chunk); {
		j := i
		for j < len(chunk) && !isZero(j) {
			j += block
		}
		if j > i {
			if _, err := out.WriteAt(chunk[i:min(j, len(chunk))], off+int64(i)); err != nil {
				return err
			}
		}
		for j < len(chunk) && isZero(j) {
			j += block
		}
		i = j
	}
	return nil
}
