package bench

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/failover"
)

// Drill events.
const (
	EventKillPrimary = "kill-primary" // kill -9 of the primary's mariadbd
	EventSwitchover  = "switchover"   // planned switchover through the failover manager
)

// DrillOptions configure one drill run.
type DrillOptions struct {
	Event   string
	Writers int           // autocommit INSERT loops (default 4)
	Readers int           // point-read loops (0: none)
	Warmup  time.Duration // load before the event (default 2s)
	After   time.Duration // load after the event (default 6s)
}

// DrillRun is what one drill measured. Times are milliseconds.
type DrillRun struct {
	Event      string `json:"event"`
	OldPrimary string `json:"old_primary"`
	NewPrimary string `json:"new_primary"`
	// WriteGapMs is the longest time without any acknowledged write from the
	// last acknowledgement before the event to the end of the run: the write
	// unavailability window.
	WriteGapMs float64 `json:"write_gap_ms"`
	// FirstWriteMs is from the event to the first write acknowledged after it.
	FirstWriteMs float64 `json:"first_write_ms"`
	// LongestStallMs is the slowest single write or read statement.
	LongestStallMs float64 `json:"longest_stall_ms"`
	WritesAcked    int     `json:"writes_acked"`
	ReadsOK        int     `json:"reads_ok"`
	// Client errors by code: "1290", "conn-lost", ... Statements sent after
	// the event are kept apart from those in flight when it happened, which a
	// kill -9 can legitimately fail.
	WriteErrorsAfter    map[string]int `json:"write_errors_after_event"`
	WriteErrorsInFlight map[string]int `json:"write_errors_in_flight"`
	LastWriteErrorMs    float64        `json:"last_write_error_sent_ms"` // latest send time, from the event, of a failed write sent after it
	ReadErrors          map[string]int `json:"read_errors_after_event"`
	ReadErrorsInFlight  map[string]int `json:"read_errors_in_flight"`
	ErrorSamples        []string       `json:"error_samples,omitempty"`
	// LostWrites are acknowledged ids missing on the new primary afterwards.
	LostWrites int `json:"lost_writes"`
	// Failover event phases from the event trigger, when Switchyard runs
	// in-process (0 = phase not reached or not known).
	ConfirmedMs float64 `json:"confirmed_ms"`
	PromotedMs  float64 `json:"promoted_ms"`
	ResumedMs   float64 `json:"writes_resumed_ms"`
	Result      string  `json:"result"`
	LoadAvg     string  `json:"loadavg"` // at the event: how busy the machine was
}

func (o *DrillOptions) defaults() {
	if o.Writers <= 0 {
		o.Writers = 4
	}
	if o.Warmup <= 0 {
		o.Warmup = 2 * time.Second
	}
	if o.After <= 0 {
		o.After = 6 * time.Second
	}
}

// op is one finished client statement.
type op struct {
	sent, done time.Time
	err        error
	id         int64 // acknowledged insert id (writers)
}

// RunDrill runs writers and readers through Switchyard, triggers the event
// after the warm-up and checks every acknowledged write on the new primary.
// The event needs Switchyard in-process (e.App), and a kill needs the sandbox.
func RunDrill(ctx context.Context, e *Env, o DrillOptions) (*DrillRun, error) {
	o.defaults()
	if e.App == nil {
		return nil, errors.New("drill: needs an in-process switchyard (not --proxy)")
	}
	if o.Event == EventKillPrimary && e.Sandbox == nil {
		return nil, errors.New("drill: kill-primary needs a sandbox (--sandbox, or --config of a `sandbox up` directory)")
	}
	if o.Event != EventKillPrimary && o.Event != EventSwitchover {
		return nil, fmt.Errorf("drill: unknown event %q", o.Event)
	}
	old := e.App.View().Load().Primary
	db, err := open(e.Proxy, e.User, e.Pass)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(o.Writers)
	db.SetMaxIdleConns(o.Writers)
	// Readers get their own sessions: a session that wrote reads its own
	// writes, which is a different path through the proxy.
	rdb, err := open(e.Proxy, e.User, e.Pass)
	if err != nil {
		return nil, err
	}
	defer rdb.Close()
	rdb.SetMaxOpenConns(o.Readers)
	rdb.SetMaxIdleConns(o.Readers)
	for _, s := range []string{
		"CREATE DATABASE IF NOT EXISTS drill",
		"DROP TABLE IF EXISTS drill.acked",
		"CREATE TABLE drill.acked (id BIGINT NOT NULL PRIMARY KEY, writer INT NOT NULL, KEY w (writer, id)) ENGINE=InnoDB",
	} {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return nil, fmt.Errorf("drill: %s: %w", s, err)
		}
	}
	// Readers go to replicas: start them once the table is there.
	if err := waitReplicated(ctx, e, "SELECT COUNT(*) FROM drill.acked", 0); err != nil {
		return nil, err
	}

	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		writes []op
		reads  []op
	)
	loop := func(out *[]op, stmt func(ctx context.Context, seq int64) (int64, error)) {
		defer wg.Done()
		var local []op
		for seq := int64(1); loadCtx.Err() == nil; seq++ {
			sctx, cancel := context.WithTimeout(loadCtx, 30*time.Second)
			t0 := time.Now()
			id, err := stmt(sctx, seq)
			cancel()
			if err != nil && loadCtx.Err() != nil {
				break // stopped by the end of the drill, not a failure
			}
			local = append(local, op{sent: t0, done: time.Now(), err: err, id: id})
		}
		mu.Lock()
		*out = append(*out, local...)
		mu.Unlock()
	}
	for w := range o.Writers {
		wg.Add(1)
		go loop(&writes, func(ctx context.Context, seq int64) (int64, error) {
			id := int64(w+1)<<40 | seq
			_, err := db.ExecContext(ctx, "INSERT INTO drill.acked (id, writer) VALUES (?, ?)", id, w)
			return id, err
		})
	}
	for r := range o.Readers {
		wg.Add(1)
		go loop(&reads, func(ctx context.Context, _ int64) (int64, error) {
			var n int64
			err := rdb.QueryRowContext(ctx, "SELECT COUNT(*) FROM drill.acked WHERE writer = ?", r%o.Writers).Scan(&n)
			return 0, err
		})
	}

	select {
	case <-time.After(o.Warmup):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// The event happens when the primary is dead (Kill returns once the
	// process is gone) or when the switchover is asked for.
	var (
		trigger time.Time
		evErr   error
	)
	switch o.Event {
	case EventKillPrimary:
		evErr = e.Sandbox.Kill(old)
		trigger = time.Now()
	case EventSwitchover:
		trigger = time.Now()
		_, evErr = e.App.Failover.Switchover(ctx, "")
	}
	if evErr != nil {
		stopLoad()
		wg.Wait()
		return nil, fmt.Errorf("drill: %s: %w", o.Event, evErr)
	}
	select {
	case <-time.After(o.After):
	case <-ctx.Done():
	}
	stopLoad()
	wg.Wait()

	run := summarizeDrill(o.Event, trigger, writes, reads)
	run.OldPrimary = old
	run.LoadAvg = loadAvg()
	run.NewPrimary, err = waitNewPrimary(ctx, e, old)
	if err != nil {
		return run, err
	}
	if ev, ok := eventFor(e.App.Failover.Events(), trigger); ok {
		since := func(phase string) float64 {
			if at := ev.At(phase); !at.IsZero() {
				return ms(at.Sub(trigger))
			}
			return 0
		}
		run.ConfirmedMs = since(failover.PhaseConfirmed)
		run.PromotedMs = since(failover.PhasePromoted)
		run.ResumedMs = since(failover.PhaseWritesResumed)
		run.Result = ev.Result
	}
	run.LostWrites, err = countLost(ctx, e, run.NewPrimary, writes)
	return run, err
}

func summarizeDrill(event string, trigger time.Time, writes, reads []op) *DrillRun {
	run := &DrillRun{
		Event:               event,
		WriteErrorsAfter:    map[string]int{},
		WriteErrorsInFlight: map[string]int{},
		ReadErrors:          map[string]int{},
		ReadErrorsInFlight:  map[string]int{},
	}
	var acks []time.Time
	// One example of each kind of failure makes the counts diagnosable.
	seen := map[string]bool{}
	sample := func(kind string, o op) {
		key := kind + errorCode(o.err)
		if !seen[key] {
			seen[key] = true
			run.ErrorSamples = append(run.ErrorSamples, fmt.Sprintf("%s sent at event%+.0fms: %v", kind, ms(o.sent.Sub(trigger)), o.err))
		}
	}
	for _, w := range writes {
		run.LongestStallMs = max(run.LongestStallMs, ms(w.done.Sub(w.sent)))
		if w.err == nil {
			run.WritesAcked++
			acks = append(acks, w.done)
			continue
		}
		if w.sent.Before(trigger) {
			run.WriteErrorsInFlight[errorCode(w.err)]++
		} else {
			run.WriteErrorsAfter[errorCode(w.err)]++
			run.LastWriteErrorMs = max(run.LastWriteErrorMs, ms(w.sent.Sub(trigger)))
		}
		sample("write", w)
	}
	for _, r := range reads {
		run.LongestStallMs = max(run.LongestStallMs, ms(r.done.Sub(r.sent)))
		if r.err == nil {
			run.ReadsOK++
			continue
		}
		if r.sent.Before(trigger) {
			run.ReadErrorsInFlight[errorCode(r.err)]++
		} else {
			run.ReadErrors[errorCode(r.err)]++
		}
		sample("read", r)
	}
	run.WriteGapMs, run.FirstWriteMs = writeGap(acks, trigger)
	return run
}

// writeGap returns the longest interval without an acknowledged write that
// ends after trigger (starting at the last acknowledgement before it), and
// the time from trigger to the first acknowledgement after it. With no
// acknowledgement after the trigger both are -1: writes never came back.
func writeGap(acks []time.Time, trigger time.Time) (gap, first float64) {
	slices.SortFunc(acks, func(a, b time.Time) int { return a.Compare(b) })
	i, _ := slices.BinarySearchFunc(acks, trigger, func(a, t time.Time) int { return a.Compare(t) })
	if i == len(acks) {
		return -1, -1
	}
	first = ms(acks[i].Sub(trigger))
	prev := trigger
	if i > 0 {
		prev = acks[i-1]
	}
	for ; i < len(acks); i++ {
		gap = max(gap, ms(acks[i].Sub(prev)))
		prev = acks[i]
	}
	return gap, first
}

// errorCode names an error for counting: the server's error number, or the
// kind of connection failure.
func errorCode(err error) string {
	var me *mysql.MySQLError
	switch {
	case errors.As(err, &me):
		return strconv.Itoa(int(me.Number))
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, mysql.ErrInvalidConn),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "conn-lost"
	}
	return "other"
}

// waitNewPrimary waits until Switchyard has a writable primary other than
// old and returns its name.
func waitNewPrimary(ctx context.Context, e *Env, old string) (string, error) {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := e.App.WaitReady(wctx); err != nil {
		return "", fmt.Errorf("drill: %w", err)
	}
	p := e.App.View().Load().Primary
	if p == old {
		return p, fmt.Errorf("drill: %s is still the primary after the event", old)
	}
	return p, nil
}

// eventFor returns the first failover or switchover that started at or
// after the trigger (a second of slack for clock reads): the one it caused.
func eventFor(evs []failover.Event, trigger time.Time) (failover.Event, bool) {
	for _, ev := range evs {
		if ev.Kind != failover.KindRejoin && !ev.Start.Before(trigger.Add(-time.Second)) {
			return ev, true
		}
	}
	return failover.Event{}, false
}

// countLost reads every id from the new primary directly and counts the
// acknowledged ones it does not have.
func countLost(ctx context.Context, e *Env, primary string, writes []op) (int, error) {
	addr := ""
	if s := e.App.View().Load().Server(primary); s != nil {
		addr = s.Addr
	}
	db, err := open(addr, e.User, e.Pass)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT id FROM drill.acked")
	if err != nil {
		return 0, fmt.Errorf("drill: read back from %s: %w", primary, err)
	}
	defer rows.Close()
	have := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return 0, err
		}
		have[id] = true
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	lost := 0
	for _, w := range writes {
		if w.err == nil && !have[w.id] {
			lost++
		}
	}
	return lost, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// DrillReport is several drill runs and their medians.
type DrillReport struct {
	Event    string      `json:"event"`
	SemiSync bool        `json:"semi_sync"`
	Runs     []*DrillRun `json:"runs"`
	Median   DrillMedian `json:"median"`
	Goals    []Goal      `json:"goals"`
}

// DrillMedian holds the medians of the runs' timings and the totals of
// their errors and losses.
type DrillMedian struct {
	WriteGapMs       float64 `json:"write_gap_ms"`
	FirstWriteMs     float64 `json:"first_write_ms"`
	LongestStallMs   float64 `json:"longest_stall_ms"`
	PromotedMs       float64 `json:"promoted_ms"`
	WriteErrorsAfter int     `json:"write_errors_after_event_total"`
	ReadErrors       int     `json:"read_errors_total"`
	LostWrites       int     `json:"lost_writes_total"`
}

// NewDrillReport summarises runs and checks the goals.
func NewDrillReport(event string, semiSync bool, runs []*DrillRun) *DrillReport {
	rep := &DrillReport{Event: event, SemiSync: semiSync, Runs: runs}
	col := func(f func(*DrillRun) float64) float64 {
		xs := make([]float64, len(runs))
		for i, r := range runs {
			xs[i] = f(r)
		}
		return Median(xs)
	}
	m := &rep.Median
	m.WriteGapMs = col(func(r *DrillRun) float64 { return r.WriteGapMs })
	m.FirstWriteMs = col(func(r *DrillRun) float64 { return r.FirstWriteMs })
	m.LongestStallMs = col(func(r *DrillRun) float64 { return r.LongestStallMs })
	m.PromotedMs = col(func(r *DrillRun) float64 { return r.PromotedMs })
	for _, r := range runs {
		m.WriteErrorsAfter += sum(r.WriteErrorsAfter)
		m.ReadErrors += sum(r.ReadErrors)
		m.LostWrites += r.LostWrites
	}
	never := slices.ContainsFunc(runs, func(r *DrillRun) bool { return r.FirstWriteMs < 0 })
	switch event {
	case EventKillPrimary:
		rep.Goals = append(rep.Goals,
			Goal{What: "writes succeed on the new primary within (median ms)", Measured: m.FirstWriteMs, Want: "<= 2000", Met: !never && m.FirstWriteMs <= 2000},
			Goal{What: "client errors for statements sent after the crash", Measured: float64(m.WriteErrorsAfter + m.ReadErrors), Want: "0", Met: m.WriteErrorsAfter+m.ReadErrors == 0})
		if semiSync {
			rep.Goals = append(rep.Goals, Goal{What: "acknowledged writes lost (semi-sync)", Measured: float64(m.LostWrites), Want: "0", Met: m.LostWrites == 0})
		}
	case EventSwitchover:
		errs := m.WriteErrorsAfter + m.ReadErrors
		for _, r := range runs {
			errs += sum(r.WriteErrorsInFlight) + sum(r.ReadErrorsInFlight)
		}
		rep.Goals = append(rep.Goals,
			Goal{What: "write pause (median longest gap, ms)", Measured: m.WriteGapMs, Want: "< 500", Met: !never && m.WriteGapMs < 500},
			Goal{What: "client errors", Measured: float64(errs), Want: "0", Met: errs == 0},
			Goal{What: "acknowledged writes lost", Measured: float64(m.LostWrites), Want: "0", Met: m.LostWrites == 0})
	}
	return rep
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// WriteDrillTable prints one row per run, the medians and the goals.
func WriteDrillTable(w io.Writer, rep *DrillReport) error {
	fmt.Fprintf(w, "drill: %s, semi-sync %v, %d runs\n\n", rep.Event, rep.SemiSync, len(rep.Runs))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\told→new\twrite gap ms\tfirst write ms\tlongest stmt ms\tconfirmed ms\tpromoted ms\tresumed ms\tacked\twrite errors after\tin flight (w/r)\tread errors after\tlost\tload avg\t")
	for i, r := range rep.Runs {
		fmt.Fprintf(tw, "%d\t%s→%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%d\t%s\t%s\t%s\t%d\t%s\t\n", i+1,
			r.OldPrimary, r.NewPrimary, r.WriteGapMs, r.FirstWriteMs, r.LongestStallMs, r.ConfirmedMs, r.PromotedMs, r.ResumedMs,
			r.WritesAcked, codes(r.WriteErrorsAfter), codes(r.WriteErrorsInFlight)+"/"+codes(r.ReadErrorsInFlight), codes(r.ReadErrors), r.LostWrites, r.LoadAvg)
	}
	m := rep.Median
	fmt.Fprintf(tw, "median\t\t%.0f\t%.0f\t%.0f\t\t%.0f\t\t\t%d\t\t%d\t%d\t\t\n",
		m.WriteGapMs, m.FirstWriteMs, m.LongestStallMs, m.PromotedMs, m.WriteErrorsAfter, m.ReadErrors, m.LostWrites)
	if err := tw.Flush(); err != nil {
		return err
	}
	for i, r := range rep.Runs {
		for _, s := range r.ErrorSamples {
			fmt.Fprintf(w, "  run %d: %s\n", i+1, s)
		}
	}
	writeGoals(w, rep.Goals)
	return nil
}

// codes renders error counts as "1290:3 conn-lost:1", or "0".
func codes(m map[string]int) string {
	if len(m) == 0 {
		return "0"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
