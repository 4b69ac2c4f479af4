package health

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/topology"
)

// fakeServer listens on loopback and hands every connection to serve.
func fakeServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c) // returns when the monitor hangs up
			}()
		}
	}()
	return l.Addr().String()
}

// TestCheckNeverHangs points monitors at servers that accept connections
// but never answer, or answer garbage: each check fails within the timeout.
func TestCheckNeverHangs(t *testing.T) {
	t.Parallel()
	silent := fakeServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	garbage := fakeServer(t, func(c net.Conn) {
		c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\nthis is not a MySQL server\n"))
		io.Copy(io.Discard, c)
	})
	const timeout = 300 * time.Millisecond
	cfg := config.Default()
	cfg.Health.Timeout = config.Duration(timeout)
	cfg.Monitor = config.Credentials{User: "mon", Password: "secret"}
	cfg.Servers = []config.Server{{Name: "silent", Address: silent}, {Name: "garbage", Address: garbage}}
	view := topology.NewView(nil)
	mon := New(cfg, view, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, name := range []string{"silent", "garbage"} {
		for i := 1; i <= 2; i++ {
			start := time.Now()
			err := mon.CheckNow(context.Background(), name)
			if elapsed := time.Since(start); elapsed > timeout+2*time.Second {
				t.Errorf("%s: check took %v with a %v timeout", name, elapsed, timeout)
			}
			if err == nil {
				t.Fatalf("%s: check succeeded", name)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("%s: error shows the password: %v", name, err)
			}
			s := view.Load().Server(name)
			if s.Reachable || s.FailedChecks != i || s.LastError == "" || s.LagMs != -1 || s.LagEligible {
				t.Errorf("%s after %d checks: reachable=%v failed=%d err=%q lag=%d eligible=%v",
					name, i, s.Reachable, s.FailedChecks, s.LastError, s.LagMs, s.LagEligible)
			}
		}
	}
}
