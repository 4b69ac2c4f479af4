package health

import (
	"testing"
	"time"

	"github.com/switchyard/switchyard/gtid"
	"github.com/switchyard/switchyard/topology"
)

func TestEligibleHysteresis(t *testing.T) {
	const max, hyst = time.Second, 200 * time.Millisecond
	steps := []struct {
		lagMs int64
		want  bool
	}{
		{-1, false},   // unknown: never eligible
		{900, false},  // coming from ineligible: must get to 800 first
		{800, true},   // re-entry threshold reached
		{1000, true},  // at the limit: stays
		{950, true},   //
		{1001, false}, // past the limit: leaves
		{999, false},  // hovering just under the limit: stays out
		{801, false},
		{800, true},
		{-1, false}, // broken replication drops it at once
		{0, true},
	}
	was := false
	for i, s := range steps {
		got := eligible(was, s.lagMs, max, hyst)
		if got != s.want {
			t.Fatalf("step %d: eligible(was=%v, lag=%d) = %v, want %v", i, was, s.lagMs, got, s.want)
		}
		was = got
	}
	if eligible(false, 0, time.Second, 2*time.Second) != true {
		t.Error("hysteresis larger than the limit must still let a caught-up replica in")
	}
}

func TestHeartbeatLag(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // primary clock
	t0 := time.Now()                                    // proxy clock
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var h heartbeats
	for i := 0; i < 10; i++ { // one heartbeat every 100 ms
		h.record(7, base.Add(ms(100*i)), t0.Add(ms(100*i)), true)
	}
	now := t0.Add(ms(950))
	cases := []struct {
		name    string
		id      uint32
		replica time.Time
		wantMs  int64
		wantOK  bool
	}{
		{"has the newest", 7, base.Add(ms(900)), 0, true},
		{"newer than known", 7, base.Add(ms(950)), 0, true},
		{"missing the newest", 7, base.Add(ms(800)), 50, true},
		{"missing five", 7, base.Add(ms(450)), 450, true},
		{"between beats", 7, base.Add(ms(420)), 450, true},
		{"older than the history", 7, base.Add(-ms(1000)), 1950, true},
		{"another primary", 8, base.Add(ms(900)), 0, false},
		{"unknown primary", 0, base, 0, false},
	}
	for _, c := range cases {
		got, ok := h.lag(c.id, c.replica, now, 3*time.Second)
		if got != c.wantMs || ok != c.wantOK {
			t.Errorf("%s: lag = %d, %v; want %d, %v", c.name, got, ok, c.wantMs, c.wantOK)
		}
	}
	if _, ok := h.lag(7, base, t0.Add(ms(900)+3*time.Second+1), 3*time.Second); ok {
		t.Error("a heartbeat nobody wrote for longer than staleAfter still measured lag")
	}

	// Lag grows with the proxy's clock while the replica stands still.
	a, _ := h.lag(7, base.Add(ms(500)), now, time.Minute)
	b, _ := h.lag(7, base.Add(ms(500)), now.Add(time.Second), time.Minute)
	if b-a != 1000 {
		t.Errorf("lag grew by %d ms over 1 s", b-a)
	}

	// Readings that are not newer change nothing; the writer's older one
	// means the primary's clock stepped back, and the history restarts.
	h.record(7, base.Add(ms(300)), now, false)
	if got, _ := h.lag(7, base.Add(ms(900)), now, time.Minute); got != 0 {
		t.Errorf("a stale monitor reading disturbed the history: lag %d", got)
	}
	h.record(7, base.Add(-time.Hour), now, true)
	if got, ok := h.lag(7, base.Add(-time.Hour), now, time.Minute); got != 0 || !ok {
		t.Errorf("after a clock step back: lag %d, %v; want 0, true", got, ok)
	}
	// A new primary replaces the history.
	h.record(9, base, now, false)
	if _, ok := h.lag(7, base, now, time.Minute); ok {
		t.Error("the old primary's heartbeats still count after the primary changed")
	}
}

func TestHeartbeatHistoryBounded(t *testing.T) {
	var h heartbeats
	base, t0 := time.Unix(0, 0), time.Now()
	for i := 0; i < 3*maxBeats; i++ {
		h.record(1, base.Add(time.Duration(i)*time.Millisecond), t0.Add(time.Duration(i)*time.Millisecond), true)
	}
	if len(h.seen) != maxBeats {
		t.Fatalf("history holds %d beats, want %d", len(h.seen), maxBeats)
	}
	// A replica older than the history: its gap is measured on the primary's clock.
	now := t0.Add(time.Duration(3*maxBeats) * time.Millisecond)
	if got, _ := h.lag(1, base, now, time.Minute); got != int64(3*maxBeats) {
		t.Errorf("lag beyond the history = %d ms, want %d", got, 3*maxBeats)
	}
}

func TestParseTS(t *testing.T) {
	for _, s := range []string{"2026-11-25T20:10:10.123456", "2026-11-25 20:10:10.123456", "2026-11-25T20:10:10"} {
		if _, err := parseTS(s); err != nil {
			t.Errorf("parseTS(%q): %v", s, err)
		}
	}
	a, _ := parseTS("2026-11-25T20:10:10.000100")
	b, _ := parseTS("2026-11-25T20:10:10.250100")
	if b.Sub(a) != 250*time.Millisecond {
		t.Errorf("difference %v, want 250ms", b.Sub(a))
	}
	for _, s := range []string{"", "yesterday", "2026-11-25T25:10:10"} {
		if _, err := parseTS(s); err == nil {
			t.Errorf("parseTS(%q) accepted garbage", s)
		}
	}
}

func TestHeartbeatTableName(t *testing.T) {
	cases := map[string]string{
		"switchyard.heartbeat": "`switchyard`.`heartbeat`",
		"hb":                   "`switchyard`.`hb`",
		"per`cona.heart beat":  "`per``cona`.`heart beat`",
	}
	for in, want := range cases {
		db, tbl := splitTable(in)
		if got := quoteIdent(db) + "." + quoteIdent(tbl); got != want {
			t.Errorf("%q quoted as %s, want %s", in, got, want)
		}
	}
}

func TestFlavorAndVersion(t *testing.T) {
	if f := topology.FlavorOf("10.11.19-MariaDB-0+deb12u1-log", "Debian 12"); f != topology.FlavorMariaDB {
		t.Errorf("MariaDB seen as %v", f)
	}
	if f := topology.FlavorOf("5.5.5-10.6.1", "mariadb.org binary distribution"); f != topology.FlavorMariaDB {
		t.Errorf("MariaDB by comment seen as %v", f)
	}
	if f := topology.FlavorOf("8.0.36", "MySQL Community Server - GPL"); f != topology.FlavorMySQL {
		t.Errorf("MySQL seen as %v", f)
	}
	if v := versionNumbers("8.0.36-log"); v != [3]int{8, 0, 36} {
		t.Errorf("versionNumbers = %v", v)
	}
	if v := versionNumbers("garbage"); v != [3]int{} {
		t.Errorf("versionNumbers(garbage) = %v", v)
	}
}

func TestPublishLeavesDecisionsAlone(t *testing.T) {
	pos, _ := gtid.ParseMariaDB("0-1-10")
	obs := topology.Server{Name: "x", Addr: "ignored", Reachable: true, LagMs: 5, LagEligible: true, GTID: pos, Role: topology.RoleFenced, Admin: topology.AdminOffline}
	dst := topology.Server{Name: "db2", Addr: "127.0.0.1:3307", Weight: 50, Role: topology.RolePrimary, Admin: topology.AdminDrain, LagMs: -1}
	setHealth(&dst, &obs)
	if dst.Name != "db2" || dst.Addr != "127.0.0.1:3307" || dst.Weight != 50 || dst.Role != topology.RolePrimary || dst.Admin != topology.AdminDrain {
		t.Errorf("setHealth touched configuration or decisions: %+v", dst)
	}
	if !dst.Reachable || dst.LagMs != 5 || !dst.GTID.Equal(pos) {
		t.Errorf("setHealth did not copy the observation: %+v", dst)
	}
	later := obs
	later.CheckedAt = time.Now()
	if !sameHealth(&obs, &later) {
		t.Error("a new CheckedAt alone counts as a change")
	}
	later.LagMs = 6
	if sameHealth(&obs, &later) {
		t.Error("a LagMs change is not a change")
	}
	later.LagMs = 5
	later.GTID, _ = gtid.ParseMariaDB("0-1-11")
	if sameHealth(&obs, &later) {
		t.Error("a GTID change is not a change")
	}
}
