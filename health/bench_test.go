package health

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/switchyard/switchyard/sandbox/sandboxtest"
	"github.com/switchyard/switchyard/topology"
)

// BenchmarkCheck measures one whole check (the single round trip of four
// statements, parsing and publishing) of a primary and of a replica.
func BenchmarkCheck(b *testing.B) {
	sb := sandboxtest.New(b, sandboxtest.Replicas(1))
	cfg := sb.Config()
	var servers []topology.Server
	for _, s := range cfg.Servers {
		servers = append(servers, ServerFromConfig(s))
	}
	view := topology.NewView(servers)
	view.Update(func(s *topology.Snapshot) { s.Primary = "db1" })
	mon := New(cfg, view, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, name := range []string{"db1", "db2"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if err := mon.CheckNow(context.Background(), name); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
