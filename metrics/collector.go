package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard/switchyard/topology"
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descClients        = desc("switchyard_client_connections", "Open application client connections.")
	descClientsTotal   = desc("switchyard_client_connections_total", "Application client connections accepted.")
	descClientsRefused = desc("switchyard_client_connections_refused_total", "Application client connections refused (limits, TLS required, shutdown).")
	descAuthFailures   = desc("switchyard_client_auth_failures_total", "Failed application client logins.")
	descBackendConns   = desc("switchyard_backend_connections", "Backend connections by server and state (idle|in_use).", "server", "state")
	descBackendQueries = desc("switchyard_backend_queries_total", "Statements sent to each server.", "server")
	descPoolWaits      = desc("switchyard_pool_waits_total", "Borrows that waited for a free backend connection.", "server")
	descPoolTimeouts   = desc("switchyard_pool_timeouts_total", "Borrows that gave up after pool.wait_timeout.", "server")
	descWritesHeld     = desc("switchyard_writes_held", "Writes waiting on the write gate now.")
	descWriteGate      = desc("switchyard_write_gate", "The write gate: 1 for the current state (open|held|blocked).", "state")
	descServerUp       = desc("switchyard_server_up", "1 when the server's last health check succeeded.", "server")
	descServerRole     = desc("switchyard_server_role", "1 for the server's current role.", "server", "role")
	descServerRO       = desc("switchyard_server_read_only", "1 when the server has read_only set.", "server")
	descLag            = desc("switchyard_replica_lag_seconds", "Replica lag from the heartbeat, millisecond precision; absent when unknown.", "server")
	descPrimaryReach   = desc("switchyard_primary_reachable", "1 when a primary is known and reachable.")
	descFailovers      = desc("switchyard_failovers_total", "Finished failovers and switchovers by kind and result.", "kind", "result")
	descPhase          = desc("switchyard_failover_phase_seconds", "Seconds from the first phase to each phase of the latest failover or switchover.", "phase")
	descFailoverState  = desc("switchyard_failover_state", "1 for the failover manager's current state.", "state")
	descDigests        = desc("switchyard_query_digests", "Distinct statement digests held in the bounded digest store.")
)

var roles = []topology.Role{topology.RoleUnknown, topology.RolePrimary, topology.RoleReplica, topology.RoleFenced, topology.RoleQuarantined}

var gates = []topology.WriteGate{topology.WritesOpen, topology.WritesHeld, topology.WritesBlocked}

// collector reads the topology, the proxy and the failover manager at
// scrape time.
type collector struct {
	d *Deps

	// Failovers are counted from the manager's bounded event history: every
	// finished event with an ID above lastID is added once.
	mu        sync.Mutex
	lastID    int
	failovers map[[2]string]float64
}

func newCollector(d *Deps) *collector {
	c := &collector{d: d, failovers: map[[2]string]float64{}}
	for _, k := range []string{"failover", "switchover"} {
		for _, r := range []string{"success", "failed"} {
			c.failovers[[2]string{k, r}] = 0
		}
	}
	return c
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		descClients, descClientsTotal, descClientsRefused, descAuthFailures, descBackendConns,
		descBackendQueries, descPoolWaits, descPoolTimeouts, descWritesHeld, descWriteGate,
		descServerUp, descServerRole, descServerRO, descLag, descPrimaryReach, descFailovers,
		descPhase, descFailoverState, descDigests,
	} {
		ch <- d
	}
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.topology(ch)
	if p := c.d.Proxy; p != nil {
		st := p.Stats()
		ch <- gauge(descClients, float64(st.ClientsConnected))
		ch <- counter(descClientsTotal, float64(st.ClientsTotal))
		ch <- counter(descClientsRefused, float64(st.ClientsRefused))
		ch <- counter(descAuthFailures, float64(st.AuthFailures))
		ch <- gauge(descWritesHeld, float64(st.HeldWrites))
		c.pools(ch)
	}
	if f := c.d.Failover; f != nil {
		c.failover(ch)
	}
	if c.d.Digests != nil {
		ch <- gauge(descDigests, float64(c.d.Digests.Len()))
	}
}

func (c *collector) topology(ch chan<- prometheus.Metric) {
	snap := c.d.View.Load()
	for i := range snap.Servers {
		s := &snap.Servers[i]
		ch <- gauge(descServerUp, b2f(s.Reachable), s.Name)
		for _, r := range roles {
			ch <- gauge(descServerRole, b2f(s.Role == r), s.Name, r.String())
		}
		if s.Reachable {
			ch <- gauge(descServerRO, b2f(s.ReadOnly), s.Name)
		}
		if s.IsReplica && s.LagMs >= 0 {
			ch <- gauge(descLag, float64(s.LagMs)/1000, s.Name)
		}
	}
	p := snap.PrimaryServer()
	ch <- gauge(descPrimaryReach, b2f(p != nil && p.Reachable))
	for _, g := range gates {
		ch <- gauge(descWriteGate, b2f(snap.Gate == g), g.String())
	}
}

func (c *collector) pools(ch chan<- prometheus.Metric) {
	type agg struct{ idle, inUse, queries, waits, timeouts float64 }
	by := map[string]*agg{}
	for _, p := range c.d.Proxy.Pools() {
		a := by[p.Server]
		if a == nil {
			a = &agg{}
			by[p.Server] = a
		}
		a.idle += float64(p.Idle)
		a.inUse += float64(p.InUse)
		a.queries += float64(p.Queries)
		a.waits += float64(p.Waits)
		a.timeouts += float64(p.Timeouts)
	}
	for srv, a := range by {
		ch <- gauge(descBackendConns, a.idle, srv, "idle")
		ch <- gauge(descBackendConns, a.inUse, srv, "in_use")
		ch <- counter(descBackendQueries, a.queries, srv)
		ch <- counter(descPoolWaits, a.waits, srv)
		ch <- counter(descPoolTimeouts, a.timeouts, srv)
	}
}

func (c *collector) failover(ch chan<- prometheus.Metric) {
	f := c.d.Failover
	ch <- gauge(descFailoverState, 1, f.State())
	evs := f.Events()

	c.mu.Lock()
	for _, e := range evs {
		if e.ID > c.lastID && e.Result != "" {
			c.failovers[[2]string{e.Kind, e.Result}]++
			c.lastID = e.ID
		}
	}
	for k, v := range c.failovers {
		ch <- counter(descFailovers, v, k[0], k[1])
	}
	c.mu.Unlock()

	for i := len(evs) - 1; i >= 0; i-- {
		ph := evs[i].Phases
		if len(ph) == 0 {
			continue
		}
		seen := map[string]bool{} // a repeated phase would be a duplicate series
		for _, p := range ph {
			if !seen[p.Name] {
				seen[p.Name] = true
				ch <- gauge(descPhase, p.At.Sub(ph[0].At).Seconds(), p.Name)
			}
		}
		break
	}
}
