package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Options configure Run.
type Options struct {
	Runs      int           // runs per workload and target; the report shows medians (default 5)
	Duration  time.Duration // measured time of one run (default 2s)
	Warmup    time.Duration // unmeasured time before each run (default 300ms)
	Workloads []string      // names from Workloads(); empty = all
	// IdleConns > 0 also measures Switchyard's memory holding that many idle
	// clients; it runs Binary (`switchyard serve`) as a child process.
	IdleConns int
	Binary    string
	Progress  io.Writer // one line per run; nil is silent
}

// Report is the outcome of Run, printed by WriteTable and WriteJSON.
type Report struct {
	Started  time.Time `json:"started"`
	Runs     int       `json:"runs"`
	Duration string    `json:"duration"`
	// LoadAvg is /proc/loadavg at the start and the end: on a shared
	// machine it says how much the numbers can be trusted.
	LoadAvg   [2]string        `json:"loadavg"`
	Workloads []WorkloadResult `json:"workloads"`
	Idle      *IdleResult      `json:"idle,omitempty"`
	Goals     []Goal           `json:"goals"`
}

// WorkloadResult is one workload's row per target.
type WorkloadResult struct {
	Name    string         `json:"name"`
	Desc    string         `json:"desc"`
	Conns   int            `json:"conns"`
	Targets []TargetResult `json:"targets"`
}

// TargetResult holds the median of a target's runs and its QPS ratio to the
// workload's first target.
type TargetResult struct {
	Name   string  `json:"name"`
	Median Stats   `json:"median"`
	Ratio  float64 `json:"qps_ratio"`
	Runs   []Stats `json:"runs"`
	// FirstError is the first failed operation's error, for a report with
	// errors to be diagnosable.
	FirstError string `json:"first_error,omitempty"`
}

// Goal is one target from the issues, with whether the run met it.
type Goal struct {
	What     string  `json:"what"`
	Measured float64 `json:"measured"`
	Want     string  `json:"want"`
	Met      bool    `json:"met"`
}

func (o *Options) defaults() {
	if o.Runs <= 0 {
		o.Runs = 5
	}
	if o.Duration <= 0 {
		o.Duration = 2 * time.Second
	}
	if o.Warmup <= 0 {
		o.Warmup = 300 * time.Millisecond
	}
}

// Run prepares the bench tables, starts a relay in front of the primary and
// runs each workload o.Runs times, interleaving its targets within every run.
func Run(ctx context.Context, e *Env, o Options) (*Report, error) {
	o.defaults()
	selected, err := selectWorkloads(o.Workloads)
	if err != nil {
		return nil, err
	}
	if err := prepareData(ctx, e); err != nil {
		return nil, err
	}
	relay, err := StartRelay("127.0.0.1:0", e.PrimaryAddr(), nil)
	if err != nil {
		return nil, fmt.Errorf("bench: relay: %w", err)
	}
	defer relay.Close()
	targets := map[string]Target{
		TargetDirect:     {Name: TargetDirect, Addr: e.PrimaryAddr(), Hint: primaryHint},
		TargetRelay:      {Name: TargetRelay, Addr: relay.Addr(), Hint: primaryHint},
		TargetSwitchyard: {Name: TargetSwitchyard, Addr: e.Proxy, Hint: primaryHint},
		TargetPrimary:    {Name: TargetPrimary, Addr: e.Proxy, Hint: primaryHint},
		TargetSplit:      {Name: TargetSplit, Addr: e.Proxy},
	}

	rep := &Report{Started: time.Now().UTC(), Runs: o.Runs, Duration: o.Duration.String()}
	rep.LoadAvg[0] = loadAvg()
	for _, wl := range selected {
		res := WorkloadResult{Name: wl.Name, Desc: wl.Desc, Conns: wl.Conns}
		runs := make([][]Stats, len(wl.Targets))
		firstErr := make([]string, len(wl.Targets))
		for r := range o.Runs {
			for i, name := range wl.Targets {
				s, err := runOnce(ctx, wl, targets[name], e.User, e.Pass, o.Warmup, o.Duration)
				if err != nil {
					return nil, err
				}
				st := Summarize(s)
				runs[i] = append(runs[i], st)
				if firstErr[i] == "" {
					firstErr[i] = s.FirstError
				}
				if o.Progress != nil {
					fmt.Fprintf(o.Progress, "%s run %d/%d %-18s %9.0f qps  p99 %7.0f us  errors %d\n",
						wl.Name, r+1, o.Runs, name, st.QPS, st.P99, st.Errors)
				}
			}
		}
		for i, name := range wl.Targets {
			res.Targets = append(res.Targets, TargetResult{Name: name, Median: MedianStats(runs[i]), Runs: runs[i], FirstError: firstErr[i]})
		}
		for i := range res.Targets {
			res.Targets[i].Ratio = Ratio(res.Targets[i].Median.QPS, res.Targets[0].Median.QPS)
		}
		rep.Workloads = append(rep.Workloads, res)
	}
	if o.IdleConns > 0 {
		idle, err := MeasureIdle(ctx, e, o.Binary, o.IdleConns)
		if err != nil {
			return nil, err
		}
		rep.Idle = idle
	}
	rep.Goals = goals(rep)
	rep.LoadAvg[1] = loadAvg()
	return rep, nil
}

func selectWorkloads(names []string) ([]Workload, error) {
	all := Workloads()
	if len(names) == 0 {
		return all, nil
	}
	var out []Workload
	for _, n := range names {
		i := slices.IndexFunc(all, func(w Workload) bool { return w.Name == n })
		if i < 0 {
			known := make([]string, len(all))
			for j, w := range all {
				known[j] = w.Name
			}
			return nil, fmt.Errorf("bench: unknown workload %q (have %s)", n, strings.Join(known, ", "))
		}
		out = append(out, all[i])
	}
	return out, nil
}

// goals checks the issues' targets against what was measured; a workload
// that did not run adds no goal.
func goals(rep *Report) []Goal {
	var gs []Goal
	ratio := func(wl, target, base string) (float64, bool) {
		for _, w := range rep.Workloads {
			if w.Name != wl {
				continue
			}
			var t, b float64
			for _, r := range w.Targets {
				switch r.Name {
				case target:
					t = r.Median.QPS
				case base:
					b = r.Median.QPS
				}
			}
			return Ratio(t, b), b > 0
		}
		return 0, false
	}
	for _, wl := range []string{"point-select-1", "point-select-16"} {
		if r, ok := ratio(wl, TargetSwitchyard, TargetRelay); ok {
			gs = append(gs, Goal{What: wl + ": switchyard QPS / relay QPS", Measured: r, Want: ">= 0.9", Met: r >= 0.9})
		}
	}
	for _, wl := range []string{"connect-1", "connect-4"} {
		if r, ok := ratio(wl, TargetSwitchyard, TargetDirect); ok {
			gs = append(gs, Goal{What: wl + ": switchyard QPS / direct QPS", Measured: r, Want: ">= 2", Met: r >= 2})
		}
	}
	if rep.Idle != nil {
		gs = append(gs, Goal{What: fmt.Sprintf("RSS with %d idle clients (MiB)", rep.Idle.Clients), Measured: rep.Idle.RSSMiB, Want: "< 300", Met: rep.Idle.RSSMiB < 300})
	}
	return gs
}

// loadAvg returns the 1, 5 and 15 minute load averages, or "" off Linux.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
