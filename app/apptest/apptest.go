// Package apptest runs a whole Switchyard in-process for integration tests,
// the same way `switchyard serve` does.
package apptest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/app"
	"github.com/switchyard/switchyard/config"
)

// Start writes cfg to a file (so RELOAD CONFIG can re-read it), loads it as
// serve would, launches Switchyard, waits until a writable primary is known
// and shuts it down when the test ends. Logs at level and above go to t.Log.
func Start(t testing.TB, cfg *config.Config, level slog.Level) *app.App {
	t.Helper()
	path := WriteConfig(t, cfg, filepath.Join(t.TempDir(), "switchyard.yaml"))
	loaded, err := config.Load(path)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	a, err := app.Launch(context.Background(), loaded, Logger(t, level))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Logf("shutdown: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return a
}

// WriteConfig writes cfg as YAML to path and returns path.
func WriteConfig(t testing.TB, cfg *config.Config, path string) string {
	t.Helper()
	b, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Logger returns a structured logger writing to t.Log, so logs show only
// for failing (or verbose) tests.
func Logger(t testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
