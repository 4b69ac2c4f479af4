package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func sampleReport() *Report {
	rep := &Report{Runs: 5, Duration: "2s", Workloads: []WorkloadResult{{
		Name: "point-select-1", Desc: "d", Conns: 1,
		Targets: []TargetResult{
			{Name: TargetDirect, Median: Stats{QPS: 1000, P50: 100, P99: 300}, Ratio: 1},
			{Name: TargetRelay, Median: Stats{QPS: 800}, Ratio: 0.8},
			{Name: TargetSwitchyard, Median: Stats{QPS: 760, Errors: 2}, Ratio: 0.76, FirstError: "Error 1045"},
		},
	}}, Idle: &IdleResult{Clients: 10000, RSSMiB: 120}}
	rep.Goals = goals(rep)
	return rep
}

func TestGoalsFromReport(t *testing.T) {
	rep := sampleReport()
	if len(rep.Goals) != 2 {
		t.Fatalf("goals = %+v; want the point-select-1 ratio and the idle RSS", rep.Goals)
	}
	if g := rep.Goals[0]; g.Measured != 0.95 || !g.Met {
		t.Errorf("switchyard/relay goal = %+v; want 760/800 = 0.95, met", g)
	}
	if g := rep.Goals[1]; g.Measured != 120 || !g.Met {
		t.Errorf("idle goal = %+v", g)
	}
}

func TestWriteTableAndJSON(t *testing.T) {
	rep := sampleReport()
	var b bytes.Buffer
	if err := WriteTable(&b, rep); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"medians of 5 runs of 2s", "point-select-1", "vs direct", "0.76x", "first error via switchyard: Error 1045", "10000 connections", "goals", "met"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	if err := WriteJSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Workloads[0].Targets[2].Median.QPS != 760 || back.Idle.Clients != 10000 || len(back.Goals) != 2 {
		t.Fatalf("JSON round trip lost data: %+v", back)
	}
}

func TestSelectWorkloads(t *testing.T) {
	all, err := selectWorkloads(nil)
	if err != nil || len(all) != len(Workloads()) {
		t.Fatalf("selectWorkloads(nil) = %d, %v", len(all), err)
	}
	got, err := selectWorkloads(ParseList(" connect-1, ,result-1mb"))
	if err != nil || len(got) != 2 || got[0].Name != "connect-1" || got[1].Name != "result-1mb" {
		t.Fatalf("selectWorkloads = %+v, %v", got, err)
	}
	if _, err := selectWorkloads([]string{"nope"}); err == nil || !strings.Contains(err.Error(), "point-select-1") {
		t.Fatalf("unknown workload: err = %v, want one listing the known names", err)
	}
}
