package bench

import (
	"bufio"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

// IdleResult is Switchyard's resident memory while holding idle clients.
type IdleResult struct {
	Clients      int     `json:"clients"`
	Pid          int     `json:"pid"`
	BaseRSSMiB   float64 `json:"base_rss_mib"`
	RSSMiB       float64 `json:"rss_mib"`
	PerClientKiB float64 `json:"per_client_kib"`
}

// MeasureIdle runs binary as `switchyard serve` in its own process, so its
// RSS is the proxy's alone, opens n authenticated client connections to it
// from this process and reads VmRSS while they sit idle.
func MeasureIdle(ctx context.Context, e *Env, binary string, n int) (*IdleResult, error) {
	if binary == "" {
		return nil, errors.New("bench: the idle-clients check needs the switchyard binary")
	}
	dir, err := os.MkdirTemp("", "sybench-idle")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	cfg := *e.Config
	cfg.Listen.Admin, cfg.Listen.Metrics = "", ""
	cfg.Limits.MaxClientConnections = n + 100
	b, err := cfg.Marshal()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "switchyard.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, "serve", "--config", path, "--listen", addr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s serve: %w", binary, err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()

	cfgc := dsn(addr, e.User, e.Pass)
	connector, err := mysql.NewConnector(cfgc)
	if err != nil {
		return nil, err
	}
	if err := waitQuery(ctx, connector, 30*time.Second); err != nil {
		return nil, fmt.Errorf("bench: switchyard serve for the idle check: %w (log: %s)", err, logTail(logf.Name()))
	}
	base, err := rssMiB(cmd.Process.Pid)
	if err != nil {
		return nil, err
	}

	conns := make([]driver.Conn, n)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	const dialers = 16
	for d := range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := d; i < n; i += dialers {
				c, err := connector.Connect(ctx)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("idle client %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if firstErr != nil {
		return nil, fmt.Errorf("bench: %w", firstErr)
	}
	// The proxy must still serve while it holds them all.
	if err := waitQuery(ctx, connector, 10*time.Second); err != nil {
		return nil, fmt.Errorf("bench: query with %d idle clients: %w", n, err)
	}
	time.Sleep(time.Second) // let the runtime settle after the burst
	rss, err := rssMiB(cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	return &IdleResult{Clients: n, Pid: cmd.Process.Pid, BaseRSSMiB: base, RSSMiB: rss,
		PerClientKiB: (rss - base) * 1024 / float64(n)}, nil
}

// waitQuery retries a fresh connection and SELECT 1 until it works.
func waitQuery(ctx context.Context, c driver.Connector, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for {
		err := func() error {
			conn, err := c.Connect(ctx)
			if err != nil {
				return err
			}
			defer conn.Close()
			rows, err := conn.(driver.QueryerContext).QueryContext(ctx, "SELECT 1", nil)
			if err != nil {
				return err
			}
			return rows.Close()
		}()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// rssMiB reads VmRSS from /proc/<pid>/status.
func rssMiB(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: rss: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("bench: rss: %q: %w", v, err)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("bench: no VmRSS for pid %d", pid)
}

func logTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}
