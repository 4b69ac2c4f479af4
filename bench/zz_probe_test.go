package bench

import (
	"context"
	"testing"
	"time"

	"github.com/switchyard/switchyard/sandbox/sandboxtest"
)

func TestZZProbeReads(t *testing.T) {
	sb := sandboxtest.New(t, sandboxtest.Replicas(2))
	cfg := sb.Config()
	e, err := StartEnv(context.Background(), EnvOptions{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.Sandbox = sb
	db, _ := open(e.Proxy, e.User, e.Pass)
	defer db.Close()
	db.SetMaxOpenConns(1)
	ids := map[int]int{}
	for range 50 {
		var id int
		if err := db.QueryRow("SELECT @@server_id").Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[id]++
	}
	t.Log("before kill, reads by server_id:", ids)
	sb.Kill("db1")
	killed := time.Now()
	errs := 0
	for time.Since(killed) < 3*time.Second {
		var id int
		if err := db.QueryRow("SELECT @@server_id").Scan(&id); err != nil {
			errs++
			if errs < 3 {
				t.Logf("+%v: %v", time.Since(killed), err)
			}
		}
	}
	t.Log("errors after kill:", errs)
	for _, s := range e.App.View().Load().Servers {
		t.Logf("%s role=%v reach=%v lag=%d elig=%v", s.Name, s.Role, s.Reachable, s.LagMs, s.LagEligible)
	}
}
