package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable prints one table per workload (medians of the runs) and the
// goals, for a terminal or a Markdown code block.
func WriteTable(w io.Writer, rep *Report) error {
	fmt.Fprintf(w, "medians of %d runs of %s each, targets interleaved; load average %s at start, %s at end\n",
		rep.Runs, rep.Duration, rep.LoadAvg[0], rep.LoadAvg[1])
	for _, wl := range rep.Workloads {
		fmt.Fprintf(w, "\n%s — %s\n", wl.Name, wl.Desc)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "target\tqps\tp50 µs\tp90 µs\tp99 µs\tp99.9 µs\tMiB/s\tvs %s\terrors\t\n", wl.Targets[0].Name)
		for _, t := range wl.Targets {
			m := t.Median
			mbps := "-"
			if m.MBps >= 1 {
				mbps = fmt.Sprintf("%.0f", m.MBps)
			}
			fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%s\t%.2fx\t%d\t\n",
				t.Name, m.QPS, m.P50, m.P90, m.P99, m.P999, mbps, t.Ratio, m.Errors)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, t := range wl.Targets {
			if t.FirstError != "" {
				fmt.Fprintf(w, "  first error via %s: %s\n", t.Name, t.FirstError)
			}
		}
	}
	if i := rep.Idle; i != nil {
		fmt.Fprintf(w, "\nidle clients: %d connections held by `switchyard serve` (pid %d): RSS %.0f MiB (%.0f MiB before them, %.1f KiB per client)\n",
			i.Clients, i.Pid, i.RSSMiB, i.BaseRSSMiB, i.PerClientKiB)
	}
	writeGoals(w, rep.Goals)
	return nil
}

func writeGoals(w io.Writer, goals []Goal) {
	if len(goals) == 0 {
		return
	}
	fmt.Fprintln(w, "\ngoals")
	for _, g := range goals {
		verdict := "NOT MET"
		if g.Met {
			verdict = "met"
		}
		fmt.Fprintf(w, "  %-55s %8.2f  want %-7s %s\n", g.What, g.Measured, g.Want, verdict)
	}
}

// WriteJSON writes v (a Report or a DrillReport) as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// ParseList splits a comma-separated flag value, dropping empty items.
func ParseList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
