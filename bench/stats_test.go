package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

func TestPercentileNearestRank(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 1000; i++ {
		s = append(s, time.Duration(i)*time.Microsecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 500 * time.Microsecond}, {90, 900 * time.Microsecond}, {99, 990 * time.Microsecond}, {99.9, 999 * time.Microsecond}, {100, 1000 * time.Microsecond}, {0.01, time.Microsecond}} {
		if got := Percentile(s, c.p); got != c.want {
			t.Errorf("Percentile(1..1000us, %v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("Percentile(nil) = %v, want 0", got)
	}
	if got := Percentile([]time.Duration{7}, 99.9); got != 7 {
		t.Errorf("Percentile of one sample = %v, want it", got)
	}
}

func TestMedianAndRatio(t *testing.T) {
	in := []float64{5, 1, 4, 2, 3}
	if got := Median(in); got != 3 {
		t.Errorf("Median odd = %v, want 3", got)
	}
	if in[0] != 5 {
		t.Errorf("Median modified its input: %v", in)
	}
	if got := Median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("Median even = %v, want 2.5", got)
	}
	if got := Median(nil); got != 0 {
		t.Errorf("Median(nil) = %v", got)
	}
	if got := Ratio(9, 10); got != 0.9 {
		t.Errorf("Ratio(9,10) = %v", got)
	}
	if got := Ratio(9, 0); got != 0 {
		t.Errorf("Ratio with no baseline = %v, want 0", got)
	}
}

func TestSummarizeAndMedianStats(t *testing.T) {
	s := Sample{Ops: 4, Errors: 1, Elapsed: 2 * time.Second, Bytes: 4 << 20,
		Latency: []time.Duration{4 * time.Millisecond, time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond}}
	st := Summarize(s)
	if st.QPS != 2 || st.MBps != 2 || st.P50 != 2000 || st.P99 != 4000 || st.Errors != 1 {
		t.Fatalf("Summarize = %+v", st)
	}
	runs := []Stats{{QPS: 100, P99: 9, Errors: 1}, {QPS: 300, P99: 1}, {QPS: 200, P99: 5, Errors: 2}}
	m := MedianStats(runs)
	if m.QPS != 200 || m.P99 != 5 || m.Errors != 3 {
		t.Fatalf("MedianStats = %+v, want qps 200, p99 5 (per column), errors 3 (summed)", m)
	}
}

func TestWriteGap(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	acks := []time.Time{at(1400), at(-10), at(-500), at(1500), at(3000)}
	gap, first := writeGap(acks, t0)
	if gap != 1500 || first != 1400 {
		t.Fatalf("writeGap = %v, %v; want 1500 (3000-1500), 1400", gap, first)
	}
	gap, first = writeGap([]time.Time{at(-5)}, t0)
	if gap != -1 || first != -1 {
		t.Fatalf("no ack after the event: writeGap = %v, %v; want -1, -1", gap, first)
	}
	gap, _ = writeGap([]time.Time{at(-20), at(30)}, t0)
	if gap != 50 {
		t.Fatalf("gap spanning the event = %v, want 50", gap)
	}
}

func TestErrorCode(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&mysql.MySQLError{Number: 1290, Message: "read only"}, "1290"},
		{fmt.Errorf("exec: %w", &mysql.MySQLError{Number: 2013}), "2013"},
		{mysql.ErrInvalidConn, "conn-lost"},
		{io.ErrUnexpectedEOF, "conn-lost"},
		{context.DeadlineExceeded, "timeout"},
		{errors.New("something"), "other"},
	} {
		if got := errorCode(c.err); got != c.want {
			t.Errorf("errorCode(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestDrillReportGoals(t *testing.T) {
	ok := &DrillRun{FirstWriteMs: 900, WriteGapMs: 950, WriteErrorsAfter: map[string]int{}, ReadErrors: map[string]int{}, WriteErrorsInFlight: map[string]int{"2013": 2}}
	bad := &DrillRun{FirstWriteMs: 2500, WriteGapMs: 2600, LostWrites: 1, WriteErrorsAfter: map[string]int{"1290": 3}, ReadErrors: map[string]int{"2003": 1}}
	rep := NewDrillReport(EventKillPrimary, true, []*DrillRun{ok, ok, bad})
	if rep.Median.FirstWriteMs != 900 || rep.Median.WriteErrorsAfter != 3 || rep.Median.ReadErrors != 1 || rep.Median.LostWrites != 1 {
		t.Fatalf("median = %+v", rep.Median)
	}
	met := map[string]bool{}
	for _, g := range rep.Goals {
		met[g.What] = g.Met
	}
	if len(rep.Goals) != 3 || !met["writes succeed on the new primary within (median ms)"] ||
		met["client errors for statements sent after the crash"] || met["acknowledged writes lost (semi-sync)"] {
		t.Fatalf("goals = %+v", rep.Goals)
	}
	// In-flight errors are allowed for a crash but not for a switchover.
	sw := NewDrillReport(EventSwitchover, false, []*DrillRun{ok})
	for _, g := range sw.Goals {
		if g.What == "client errors" && (g.Met || g.Measured != 2) {
			t.Fatalf("switchover with 2 in-flight errors: goal %+v", g)
		}
	}
	never := &DrillRun{FirstWriteMs: -1, WriteGapMs: -1}
	if g := NewDrillReport(EventKillPrimary, false, []*DrillRun{never}).Goals[0]; g.Met {
		t.Fatalf("writes never resumed but goal met: %+v", g)
	}
}
