package app

import (
	"context"
	"sync/atomic"

	"github.com/switchyard/switchyard/admin"
	"github.com/switchyard/switchyard/failover"
	"github.com/switchyard/switchyard/proxy"
)

// proxyInfo presents the proxy to the admin port and metrics in their terms.
type proxyInfo struct {
	p       *proxy.Server
	closing atomic.Bool // set by App.Shutdown: the listener no longer accepts
}

func (i *proxyInfo) Clients() []admin.Client {
	cs := i.p.Clients()
	out := make([]admin.Client, len(cs))
	for k, c := range cs {
		out[k] = admin.Client{
			ID: c.ID, User: c.User, Addr: c.Addr, DB: c.DB, State: c.State,
			Server: c.Pinned, ConnectedAt: c.ConnectedAt, Queries: uint64(c.Queries), TLS: c.TLS,
		}
	}
	return out
}

func (i *proxyInfo) KillClient(id uint64) bool { return i.p.KillClient(id) }

// Pools reports one row per (server, user): the proxy keeps a pool per
// client capability set as well, which operators need not see.
func (i *proxyInfo) Pools() []admin.Pool {
	var out []admin.Pool
	for _, p := range i.p.Pools() { // sorted by server, then user
		n := len(out)
		if n == 0 || out[n-1].Server != p.Server || out[n-1].User != p.User {
			out = append(out, admin.Pool{Server: p.Server, User: p.User, Max: p.Max})
			n++
		}
		a := &out[n-1]
		a.Idle += p.Idle
		a.InUse += p.InUse
		a.Waiting += p.Waiting
		a.Waits += uint64(p.WaitsTotal)
		a.Timeouts += uint64(p.TimeoutsTotal)
		a.Connects += uint64(p.ConnectsTotal)
		a.Errors += uint64(p.ErrorsTotal)
		a.Queries += uint64(p.QueriesTotal)
	}
	return out
}

func (i *proxyInfo) Stats() admin.Stats {
	s := i.p.Stats()
	return admin.Stats{
		Accepting:        !i.closing.Load(),
		ClientsConnected: int(s.ClientsConnected),
		ClientsTotal:     uint64(s.ClientsTotal),
		ClientsRefused:   uint64(s.ClientsRefused),
		AuthFailures:     uint64(s.AuthFailures),
		Statements:       uint64(s.Statements),
		HeldWrites:       int(s.Holding),
		HoldTimeouts:     uint64(s.HoldTimeouts),
	}
}

// failoverControl presents the failover manager to the admin port and metrics.
type failoverControl struct{ m *failover.Manager }

func (f *failoverControl) Switchover(ctx context.Context, target string) (admin.Event, error) {
	e, err := f.m.Switchover(ctx, target)
	return toAdminEvent(e), err
}

func (f *failoverControl) Failover(ctx context.Context, target string) (admin.Event, error) {
	e, err := f.m.Failover(ctx, target)
	return toAdminEvent(e), err
}

func (f *failoverControl) Events() []admin.Event {
	es := f.m.Events()
	out := make([]admin.Event, len(es))
	for i, e := range es {
		out[i] = toAdminEvent(e)
	}
	return out
}

func (f *failoverControl) State() string { return f.m.State() }

func toAdminEvent(e failover.Event) admin.Event {
	phases := make([]admin.Phase, len(e.Phases))
	for i, p := range e.Phases {
		phases[i] = admin.Phase{Name: p.Name, At: p.At}
	}
	return admin.Event{
		ID: e.ID, Kind: e.Kind, Trigger: e.Trigger, OldPrimary: e.OldPrimary, NewPrimary: e.NewPrimary,
		Result: e.Result, Reason: e.Reason, Phases: phases, Fence: e.Fence,
	}
}
