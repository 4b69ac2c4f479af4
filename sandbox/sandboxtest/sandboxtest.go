// Package sandboxtest gives each test its own real MariaDB replication
// topology (see package sandbox) on free loopback ports, torn down by
// t.Cleanup even when the test fails or panics.
//
//	sb := sandboxtest.New(t, sandboxtest.Replicas(2))
//	db := sb.DB(t, "db1")
package sandboxtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/switchyard/switchyard/sandbox"
)

// Option adjusts the topology New starts.
type Option func(*sandbox.Options)

// Replicas sets the number of replicas (default 2).
func Replicas(n int) Option { return func(o *sandbox.Options) { o.Replicas = n } }

// SemiSync enables semi-synchronous replication.
func SemiSync() Option { return func(o *sandbox.Options) { o.SemiSync = true } }

// New starts a topology for this test and registers its teardown. It fails
// the test (it does not skip it) when MariaDB is missing: `make test` installs
// it, and a silently skipped integration test proves nothing.
func New(t testing.TB, opts ...Option) *sandbox.Sandbox {
	t.Helper()
	o := sandbox.Options{Replicas: 2, ExitWithParent: true}
	for _, opt := range opts {
		opt(&o)
	}
	// A short directory keeps unix socket paths under their length limit.
	dir, err := os.MkdirTemp("", "sy")
	if err != nil {
		t.Fatalf("sandboxtest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// A port picked as free can be taken before mariadbd binds it; try again.
	for attempt := 1; ; attempt++ {
		o.Ports = FreePorts(t, o.Replicas+1)
		o.Dir = filepath.Join(dir, strconv.Itoa(attempt))
		sb, err := sandbox.Up(context.Background(), o)
		if err == nil {
			t.Cleanup(func() {
				if err := sb.Down(); err != nil {
					t.Errorf("sandboxtest: %v", err)
				}
			})
			return sb
		}
		if !errors.Is(err, sandbox.ErrPortInUse) || attempt == 3 {
			t.Fatalf("sandboxtest: %v", err)
		}
	}
}

// Port range for test sandboxes and listeners: below the kernel's ephemeral
// range (32768+), so an outgoing connection cannot grab a port while a test
// has a node killed, and clear of the CLI sandbox's default 23306+.
const (
	portLow  = 24000
	portHigh = 32000
)

// FreePorts reserves n free loopback ports for the rest of the test. A lock
// file per port under the temp dir keeps parallel test binaries from picking
// the same one; the lock is released with the test (or when its process dies).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ports[i] = FreePortRange(t, 1)
	}
	return ports
}

// FreePortRange reserves n consecutive free ports, as `sandbox up
// --base-port` needs, and returns the first.
func FreePortRange(t testing.TB, n int) int {
	t.Helper()
	lockDir := filepath.Join(os.TempDir(), "switchyard-ports")
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		t.Fatalf("sandboxtest: %v", err)
	}
	for range 1000 {
		base := portLow + rand.IntN(portHigh-portLow-n)
		var held []*os.File
		for p := base; p < base+n; p++ {
			f, err := reserve(lockDir, p)
			if err != nil {
				break
			}
			held = append(held, f)
		}
		if len(held) == n {
			t.Cleanup(func() {
				for _, f := range held {
					f.Close()
				}
			})
			return base
		}
		for _, f := range held {
			f.Close()
		}
	}
	t.Fatalf("sandboxtest: no %d free consecutive ports in %d-%d", n, portLow, portHigh)
	return 0
}

func reserve(lockDir string, port int) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(lockDir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("port %d: %w", port, err)
	}
	l.Close()
	return f, nil
}
