package bench

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/sandbox/sandboxtest"
)

// testEnv runs an in-process Switchyard in front of a fresh sandbox.
func testEnv(t *testing.T, opts ...sandboxtest.Option) *Env {
	t.Helper()
	sb := sandboxtest.New(t, append([]sandboxtest.Option{sandboxtest.Replicas(2)}, opts...)...)
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := sb.Config()
	// The shared test machine can be so loaded that 200 ms health checks
	// time out and a healthy primary looks dead; a kill -9 is still seen at
	// once (connection refused).
	cfg.Health.Timeout = config.Duration(time.Second)
	e, err := StartEnv(context.Background(), EnvOptions{Config: cfg, SandboxDir: sb.Dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestBenchAndSwitchoverDrill runs every workload once, briefly, against
// all its targets, then a switchover drill on the same topology. It checks
// that each cell measured something and nothing failed, never how fast.
func TestBenchAndSwitchoverDrill(t *testing.T) {
	t.Parallel()
	e := testEnv(t)
	ctx := context.Background()
	rep, err := Run(ctx, e, Options{Runs: 1, Duration: time.Second, Warmup: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Workloads) != len(Workloads()) {
		t.Fatalf("report has %d workloads, want %d", len(rep.Workloads), len(Workloads()))
	}
	for _, wl := range rep.Workloads {
		if len(wl.Targets) < 2 {
			t.Errorf("%s: %d targets", wl.Name, len(wl.Targets))
		}
		for _, tr := range wl.Targets {
			m := tr.Median
			if m.QPS <= 0 || m.P50 <= 0 || m.P99 < m.P50 || len(tr.Runs) != 1 || tr.Ratio <= 0 {
				t.Errorf("%s via %s: empty or inconsistent cell %+v (runs %d, ratio %v)", wl.Name, tr.Name, m, len(tr.Runs), tr.Ratio)
			}
			// A stale read-your-writes read or a wrong row count is an error.
			if m.Errors != 0 {
				t.Errorf("%s via %s: %d errors, first: %s", wl.Name, tr.Name, m.Errors, tr.FirstError)
			}
		}
	}
	if wl := rep.Workloads[5]; wl.Name != "result-1mb" || wl.Targets[2].Median.MBps <= 0 {
		t.Errorf("1 MiB result workload measured no throughput: %+v", wl)
	}
	if len(rep.Goals) != 4 {
		t.Errorf("goals = %+v; want the two point-select ratios and the two connect ratios", rep.Goals)
	}

	run, err := RunDrill(ctx, e, DrillOptions{Event: EventSwitchover, Writers: 2, Readers: 2, Warmup: time.Second, After: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("switchover drill: %+v", run)
	if run.NewPrimary == run.OldPrimary || run.WritesAcked == 0 || run.FirstWriteMs < 0 {
		t.Fatalf("switchover drill: primary %s→%s, %d writes acked, first write after %v ms", run.OldPrimary, run.NewPrimary, run.WritesAcked, run.FirstWriteMs)
	}
	if run.LostWrites != 0 {
		t.Fatalf("switchover lost %d acknowledged writes", run.LostWrites)
	}
	if n := sum(run.WriteErrorsAfter) + sum(run.WriteErrorsInFlight) + sum(run.ReadErrors) + sum(run.ReadErrorsInFlight); n != 0 {
		t.Errorf("switchover: %d client errors: %v", n, run.ErrorSamples)
	}
}

// TestDrillKillPrimarySemiSync kills the primary under load: with semi-sync
// no acknowledged write may be lost, and writes must come back on a new
// primary.
func TestDrillKillPrimarySemiSync(t *testing.T) {
	t.Parallel()
	e := testEnv(t, sandboxtest.SemiSync())
	run, err := RunDrill(context.Background(), e, DrillOptions{Event: EventKillPrimary, Writers: 2, Readers: 2, Warmup: time.Second, After: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kill drill: %+v", run)
	if run.NewPrimary == run.OldPrimary || run.NewPrimary == "" {
		t.Fatalf("no new primary: %s→%s", run.OldPrimary, run.NewPrimary)
	}
	if run.WritesAcked == 0 || run.FirstWriteMs < 0 {
		t.Fatalf("writes did not resume after the kill: %d acked, first write after %v ms", run.WritesAcked, run.FirstWriteMs)
	}
	if run.LostWrites != 0 {
		t.Fatalf("%d acknowledged writes lost with semi-sync", run.LostWrites)
	}
	// Statements sent within a few milliseconds of the kill returning may
	// still have met the dying server on this loaded 2-core machine (seen:
	// 2013 for writes "sent" at +1ms); later ones must all succeed.
	if n := sum(run.WriteErrorsAfter); n != 0 && run.LastWriteErrorMs > 50 {
		t.Errorf("%d write errors for statements sent after the crash, the last sent %.0fms after it: %v", n, run.LastWriteErrorMs, run.ErrorSamples)
	} else if n != 0 {
		t.Logf("%d write errors for statements sent within 50ms of the kill: %v", n, run.ErrorSamples)
	}
}
