package app_test

import (
	"testing"
	"time"

	"github.com/switchyard/switchyard/app"
	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/sandbox/sandboxtest"
)

// TestDiscoveredServersSurviveReload drives the registry Docker discovery
// updates (without Docker: the test plays discovery) in front of a local
// sandbox: a discovered server gets reads, keeps them across RELOAD CONFIG,
// the primary is never removed, and a removed server leaves the view and
// its static definition, if any, comes back.
func TestDiscoveredServersSurviveReload(t *testing.T) {
	t.Parallel()
	sb := sandboxtest.New(t, sandboxtest.Replicas(2))
	all := sb.Config().Servers
	a := startApp(t, sb, func(c *config.Config) { c.Servers = c.Servers[:2] }) // db3 only "discovered"
	reg := app.DiscoveryRegistry(a)
	db := openApp(t, a, "")
	admin := openAdmin(t, a)

	reg.AddServer(all[2])
	eventually(t, 10*time.Second, "reads reach discovered db3", func() bool { return serverID(t, db) == 3 })

	if _, err := admin.Exec("RELOAD CONFIG"); err != nil {
		t.Fatal(err)
	}
	if a.View().Load().Server("db3") == nil {
		t.Fatal("RELOAD CONFIG dropped the discovered db3 from the view")
	}
	eventually(t, 10*time.Second, "reads reach db3 after RELOAD CONFIG", func() bool { return serverID(t, db) == 3 })

	reg.RemoveServer("db1") // the primary
	if a.View().Load().Server("db1") == nil {
		t.Fatal("discovery removed the current primary")
	}

	// A discovered server named like a static one overrides it; when it
	// disappears the static definition is back.
	moved := all[1]
	moved.Weight = 7
	reg.AddServer(moved)
	if s := a.View().Load().Server("db2"); s == nil || s.Weight != 7 {
		t.Fatalf("discovered db2 did not override the static one: %+v", s)
	}
	reg.RemoveServer("db2")
	if s := a.View().Load().Server("db2"); s == nil || s.Weight != all[1].Weight {
		t.Fatalf("static db2 not restored: %+v", s)
	}

	reg.RemoveServer("db3")
	if a.View().Load().Server("db3") != nil {
		t.Fatal("db3 still in the view after discovery removed it")
	}
	for range 20 {
		if serverID(t, db) == 3 {
			t.Fatal("read reached db3 after discovery removed it")
		}
	}
}
