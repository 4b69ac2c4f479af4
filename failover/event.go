package failover

import (
	"log/slog"
	"time"
)

// Event kinds, triggers and results.
const (
	KindFailover   = "failover"
	KindSwitchover = "switchover"
	KindRejoin     = "rejoin" // a returning server re-attached or quarantined

	TriggerAuto   = "auto"
	TriggerManual = "manual"

	ResultSuccess = "success"
	ResultFailed  = "failed"  // started changing servers and could not finish
	ResultAborted = "aborted" // stopped before promotion; the old primary kept its role
	ResultRefused = "refused" // not started: no safe candidate, anti-flap, disabled
)

// Phase names, in the order they happen, except that writes resume before
// the replicas are repointed unless semi-sync replication is in use.
const (
	PhaseSuspected         = "suspected"
	PhaseConfirmed         = "confirmed"
	PhaseWritesHeld        = "writes_held"
	PhaseCandidateChosen   = "candidate_chosen"
	PhaseCaughtUp          = "caught_up"
	PhaseFenced            = "fenced"
	PhasePromoted          = "promoted"
	PhaseReplicasRepointed = "replicas_repointed"
	PhaseWritesResumed     = "writes_resumed"
)

// Event is one failover, switchover or rejoin, with the time of each phase.
type Event struct {
	ID         int
	Kind       string
	Trigger    string
	OldPrimary string
	NewPrimary string
	Result     string
	Reason     string
	Phases     []Phase
	Fence      string   // what fencing did to the old primary
	Warnings   []string // problems that did not stop it (a replica not repointed, a hook failing)
	Start, End time.Time
}

// Phase is one step of an event.
type Phase struct {
	Name string
	At   time.Time
}

// At returns when the named phase happened, or the zero time.
func (e Event) At(phase string) time.Time {
	for _, p := range e.Phases {
		if p.Name == phase {
			return p.At
		}
	}
	return time.Time{}
}

// Duration returns the time from one phase to another, or 0 if either is
// missing. From "suspected" to "writes_resumed" is the write hold.
func (e Event) Duration(from, to string) time.Duration {
	a, b := e.At(from), e.At(to)
	if a.IsZero() || b.IsZero() {
		return 0
	}
	return b.Sub(a)
}

func (e *Event) phase(name string, at time.Time) {
	e.Phases = append(e.Phases, Phase{Name: name, At: at})
}

func (e Event) logAttrs() []any {
	attrs := []any{slog.Int("id", e.ID), slog.String("kind", e.Kind), slog.String("trigger", e.Trigger),
		slog.String("old_primary", e.OldPrimary), slog.String("new_primary", e.NewPrimary), slog.String("result", e.Result)}
	if e.Reason != "" {
		attrs = append(attrs, slog.String("reason", e.Reason))
	}
	if len(e.Phases) > 0 {
		attrs = append(attrs, slog.Duration("duration", e.Phases[len(e.Phases)-1].At.Sub(e.Phases[0].At)))
	}
	if e.Fence != "" {
		attrs = append(attrs, slog.String("fence", e.Fence))
	}
	if len(e.Warnings) > 0 {
		attrs = append(attrs, slog.Any("warnings", e.Warnings))
	}
	return attrs
}

// historySize bounds the event history.
const historySize = 100

// history keeps the last events, newest last. Callers hold Manager.mu.
type history struct {
	next   int
	events []Event
}

func (h *history) add(e Event) int {
	h.next++
	e.ID = h.next
	h.events = append(h.events, e)
	if len(h.events) > historySize {
		h.events = append(h.events[:0:0], h.events[len(h.events)-historySize:]...)
	}
	return e.ID
}

// update applies fn to a recorded event, if still kept.
func (h *history) update(id int, fn func(e *Event)) {
	for i := range h.events {
		if h.events[i].ID == id {
			fn(&h.events[i])
			return
		}
	}
}
