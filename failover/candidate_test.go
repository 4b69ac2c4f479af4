package failover

import (
	"errors"
	"strings"
	"testing"

	"github.com/switchyard/switchyard/gtid"
	"github.com/switchyard/switchyard/topology"
)

func pos(t *testing.T, s string) gtid.Set {
	t.Helper()
	p, err := gtid.ParseMariaDB(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func cand(t *testing.T, name, dc, promotion, received, applied string) candidate {
	return candidate{
		Server: topology.Server{Name: name, Datacenter: dc, Promotion: promotion, Role: topology.RoleReplica, Reachable: true},
		State:  state{Flavor: topology.FlavorMariaDB, ServerID: 9, Received: pos(t, received), Applied: pos(t, applied), Binlog: pos(t, applied)},
	}
}

func names(cs []candidate) string {
	var n []string
	for _, c := range cs {
		n = append(n, c.Server.Name)
	}
	return strings.Join(n, ",")
}

func TestRank(t *testing.T) {
	tests := []struct {
		name    string
		cands   []candidate
		oldDC   string
		want    string
		skipped []string
	}{
		{"most received first", []candidate{
			cand(t, "db2", "", "", "0-1-10", "0-1-10"),
			cand(t, "db3", "", "", "0-1-12", "0-1-9"),
		}, "", "db3,db2", nil},
		{"applied breaks a received tie", []candidate{
			cand(t, "db2", "", "", "0-1-10", "0-1-8"),
			cand(t, "db3", "", "", "0-1-10", "0-1-10"),
		}, "", "db3,db2", nil},
		{"name breaks a full tie", []candidate{
			cand(t, "db3", "", "", "0-1-10", "0-1-10"),
			cand(t, "db2", "", "", "0-1-10", "0-1-10"),
		}, "", "db2,db3", nil},
		{"datacenter before prefer", []candidate{
			cand(t, "db2", "dc2", "prefer", "0-1-10", "0-1-10"),
			cand(t, "db3", "dc1", "", "0-1-10", "0-1-10"),
		}, "dc1", "db3,db2", nil},
		{"prefer before name", []candidate{
			cand(t, "db2", "dc1", "", "0-1-10", "0-1-10"),
			cand(t, "db3", "dc1", "prefer", "0-1-10", "0-1-10"),
		}, "dc1", "db3,db2", nil},
		{"a preferred replica that is behind is not first", []candidate{
			cand(t, "db2", "dc1", "prefer", "0-1-9", "0-1-9"),
			cand(t, "db3", "dc2", "", "0-1-10", "0-1-10"),
		}, "dc1", "db3,db2", nil},
		{"never, offline, unreachable and non-replicas excluded", []candidate{
			cand(t, "db2", "", "never", "0-1-10", "0-1-10"),
			func() candidate {
				c := cand(t, "db3", "", "", "0-1-10", "0-1-10")
				c.Server.Admin = topology.AdminOffline
				return c
			}(),
			func() candidate {
				c := cand(t, "db4", "", "", "0-1-10", "0-1-10")
				c.Err = errors.New("refused")
				return c
			}(),
			func() candidate {
				c := cand(t, "db5", "", "", "0-1-10", "0-1-10")
				c.Server.Role = topology.RoleFenced
				return c
			}(),
			cand(t, "db6", "", "", "0-1-1", "0-1-1"),
		}, "", "db6", []string{"db2", "db3", "db4", "db5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, skipped := rank(tt.cands, tt.oldDC)
			if names(got) != tt.want {
				t.Errorf("order = %s, want %s", names(got), tt.want)
			}
			if len(skipped) != len(tt.skipped) {
				t.Errorf("skipped = %v, want %v", skipped, tt.skipped)
			}
			for _, n := range tt.skipped {
				if skipped[n] == "" {
					t.Errorf("%s not skipped with a reason", n)
				}
			}
		})
	}
}

func TestErrant(t *testing.T) {
	st := func(binlog string, id uint32) state {
		return state{Flavor: topology.FlavorMariaDB, ServerID: id, Binlog: pos(t, binlog)}
	}
	tests := []struct {
		name   string
		cand   state
		refs   []string
		errant bool
	}{
		{"replicated only", st("0-1-100", 2), []string{"0-1-100"}, false},
		{"ahead of stale references with the primary's GTIDs", st("0-1-105", 2), []string{"0-1-100"}, false},
		{"own write nobody has", st("0-2-101", 2), []string{"0-1-100", "0-1-100"}, true},
		{"own write at a sequence number the primary used", st("0-2-101", 2), []string{"0-1-101"}, true},
		{"own write elsewhere too (former primary)", st("0-2-50", 2), []string{"0-2-50"}, false},
		{"former primary that is behind", st("0-2-50", 2), []string{"0-1-60"}, false},
		{"own write in a domain of its own", st("0-1-100,5-2-3", 2), []string{"0-1-100"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var refs []gtid.Set
			for _, r := range tt.refs {
				refs = append(refs, pos(t, r))
			}
			if got := errant(tt.cand, refs); (got != "") != tt.errant {
				t.Errorf("errant = %q, want errant=%v", got, tt.errant)
			}
		})
	}
}

func TestDiverged(t *testing.T) {
	tests := []struct {
		name                         string
		returning, promoted, current string
		diverged                     bool
	}{
		{"behind the promotion point", "0-1-90", "0-1-100", "0-2-150", false},
		{"exactly the promotion point", "0-1-100", "0-1-100", "0-2-150", false},
		{"wrote after the promotion point", "0-1-101", "0-1-100", "0-2-150", true},
		{"same sequence number, other server", "0-1-100", "0-3-100", "0-2-150", true},
		{"no promotion point: ahead of the primary", "0-1-160", "", "0-2-150", true},
		{"no promotion point: behind the primary", "0-1-140", "", "0-2-150", false},
		{"domain the primary never had", "0-1-100,7-1-1", "0-1-100", "0-2-150", true},
		{"interrupted rejoin: already replicated from the new primary", "0-2-120", "0-1-100", "0-2-150", false},
		{"own write that the new primary's position happens to cover", "0-1-120", "0-1-100", "0-2-150", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := diverged(pos(t, tt.returning), 1, pos(t, tt.promoted), pos(t, tt.current))
			if (got != "") != tt.diverged {
				t.Errorf("diverged = %q, want diverged=%v", got, tt.diverged)
			}
		})
	}
}

func TestPickTarget(t *testing.T) {
	cands := []candidate{
		cand(t, "db2", "", "", "0-1-10", "0-1-10"),
		cand(t, "db3", "", "never", "0-1-10", "0-1-10"),
	}
	got, notes := pick(cands, nil, nil, "db3")
	if len(got) != 0 || len(notes) != 1 || !strings.Contains(notes[0], "never") {
		t.Errorf("target with promotion never: %s, %q", names(got), notes)
	}
	got, _ = pick(cands, nil, nil, "db2")
	if names(got) != "db2" {
		t.Errorf("target db2: %s", names(got))
	}
	got, notes = pick(cands, nil, nil, "db9")
	if len(got) != 0 || !strings.Contains(notes[0], "not a server") {
		t.Errorf("unknown target: %s, %q", names(got), notes)
	}
	errantCand := cand(t, "db4", "", "", "0-4-11", "0-4-11")
	errantCand.State.ServerID = 4
	got, notes = pick([]candidate{errantCand}, &topology.Server{Name: "db1", GTIDBinlog: pos(t, "0-1-10")}, nil, "")
	if len(got) != 0 || !strings.Contains(strings.Join(notes, ";"), "errant") {
		t.Errorf("errant candidate kept: %s, %q", names(got), notes)
	}
}

func TestMergeMariaDB(t *testing.T) {
	got := mergeMariaDB(pos(t, "0-1-10,2-1-5"), pos(t, "0-2-8,1-3-4,2-2-7"))
	if want := "0-1-10,1-3-4,2-2-7"; got.String() != want {
		t.Errorf("merge = %s, want %s", got, want)
	}
}
