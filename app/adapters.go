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

func (i *proxyInfo) Pools() []admin.Pool {
	ps := i.p.Pools()
	out := make([]admin.Pool, len(ps))
	for k, p := range ps {
		out[k] = admin.Pool{
			Server: p.Server, User: p.User, Idle: p.Idle, InUse: p.InUse, Max: p.Max, Waiting: p.Waiting,
			Waits: uint64(p.WaitsTotal), Timeouts: uint64(p.TimeoutsTotal),
			Connects: uint64(p.ConnectsTotal), Errors: uint64(p.ErrorsTotal),
		}
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
		HoldTimeouts:     uint64(s.HoldTimeouts),
	}
}

// failoverControl presents the failover manager to the admin port and metrics.
type failoverControl struct{ m *failover.Manager }

func (f failoverControl) Switchover(ctx context.Context, target string) (admin.Event, error) {
	e, err := f.m.Switchover(ctx, target)
	return toAdminEvent(e), err
}

func (f failoverControl) Failover(ctx context.Context, target string) (admin.Event, error) {
	e, err := f.m.Failover(ctx, target)
	return toAdminEvent(e), err
}

func (f failoverControl) Events() []admin.Event {
	es := f.m.Events()
	out := make([]admin.Event, len(es))
	for i, e := range es {
		out[i] = toAdminEvent(e)
	}
	return out
}

func (f failoverControl) State() string { return f.m.State() }

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
