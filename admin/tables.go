package admin

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/digest"
	"github.com/switchyard/switchyard/topology"
)

// ServerState is the one-word state SHOW SERVERS reports: fenced,
// quarantined, offline, drain, unknown (not checked yet), down,
// repl_stopped (a replica whose replication threads are not both running),
// lagging (a replica outside max_replica_lag) or up.
func ServerState(s *topology.Server) string {
	switch {
	case s.Role == topology.RoleFenced:
		return "fenced"
	case s.Role == topology.RoleQuarantined:
		return "quarantined"
	case s.Admin == topology.AdminOffline:
		return "offline"
	case s.Admin == topology.AdminDrain:
		return "drain"
	case s.CheckedAt.IsZero():
		return "unknown"
	case !s.Reachable:
		return "down"
	case s.Role == topology.RoleReplica && (!s.IOThread || !s.SQLThread):
		return "repl_stopped"
	case s.Role == topology.RoleReplica && !s.LagEligible:
		return "lagging"
	}
	return "up"
}

func (a *Admin) servers() *table {
	t := newTable(
		column{"name", colText}, column{"address", colText}, column{"datacenter", colText},
		column{"role", colText}, column{"state", colText}, column{"read_only", colInt},
		column{"lag_ms", colInt}, column{"gtid", colText}, column{"connections", colUint},
		column{"queries", colUint},
	)
	type load struct{ conns, queries uint64 }
	loads := map[string]load{}
	if a.d.Proxy != nil {
		for _, p := range a.d.Proxy.Pools() {
			l := loads[p.Server]
			l.conns += uint64(p.Idle + p.InUse)
			l.queries += p.Queries
			loads[p.Server] = l
		}
	}
	snap := a.d.View.Load()
	for i := range snap.Servers {
		s := &snap.Servers[i]
		var readOnly, lag any // NULL until observed
		if !s.CheckedAt.IsZero() && s.Reachable {
			readOnly = boolInt(s.ReadOnly)
		}
		if s.LagMs >= 0 && s.Role != topology.RolePrimary && s.IsReplica {
			lag = s.LagMs
		}
		l := loads[s.Name]
		t.add(s.Name, s.Addr, s.Datacenter, s.Role.String(), ServerState(s), readOnly, lag,
			s.GTID.String(), l.conns, l.queries)
	}
	return t
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func poolsTable(pools []Pool) *table {
	t := newTable(
		column{"server", colText}, column{"user", colText}, column{"idle", colUint},
		column{"in_use", colUint}, column{"max", colUint}, column{"waiting", colUint},
		column{"waits", colUint}, column{"timeouts", colUint}, column{"connects", colUint},
		column{"errors", colUint}, column{"queries", colUint},
	)
	slices.SortFunc(pools, func(a, b Pool) int {
		return cmp2(a.Server, b.Server, a.User, b.User)
	})
	for _, p := range pools {
		t.add(p.Server, p.User, uint64(p.Idle), uint64(p.InUse), uint64(p.Max), uint64(p.Waiting),
			p.Waits, p.Timeouts, p.Connects, p.Errors, p.Queries)
	}
	return t
}

func cmp2(a1, b1, a2, b2 string) int {
	if c := strings.Compare(a1, b1); c != 0 {
		return c
	}
	return strings.Compare(a2, b2)
}

func clientsTable(clients []Client) *table {
	t := newTable(
		column{"id", colUint}, column{"user", colText}, column{"address", colText},
		column{"db", colText}, column{"state", colText}, column{"server", colText},
		column{"connected_at", colTime}, column{"queries", colUint}, column{"tls", colInt},
	)
	slices.SortFunc(clients, func(a, b Client) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	for _, c := range clients {
		var db, srv any
		if c.DB != "" {
			db = c.DB
		}
		if c.Server != "" {
			srv = c.Server
		}
		t.add(c.ID, c.User, c.Addr, db, c.State, srv, c.ConnectedAt, c.Queries, boolInt(c.TLS))
	}
	return t
}

func digestsTable(entries []digest.Entry) *table {
	t := newTable(
		column{"digest", colText}, column{"digest_text", colText}, column{"count", colUint},
		column{"total_ms", colFloat}, column{"avg_ms", colFloat}, column{"max_ms", colFloat},
		column{"rows", colUint}, column{"errors", colUint}, column{"route", colText},
		column{"first_seen", colTime}, column{"last_seen", colTime},
	)
	for i := range entries {
		e := &entries[i]
		t.add(fmt.Sprintf("%016x", e.Hash), e.Text, e.Count, ms(e.Total), ms(e.Avg()), ms(e.Max),
			e.Rows, e.Errors, e.Route, e.FirstSeen, e.LastSeen)
	}
	return t
}

func newestFirst(evs []Event) []Event {
	out := slices.Clone(evs)
	slices.Reverse(out)
	return out
}

// eventsTable renders events one per row. phases lists every phase as
// name:milliseconds since the first phase, e.g.
// "suspected:0 confirmed:752.1 promoted:1103.9 writes_resumed:1104.2".
func eventsTable(evs ...Event) *table {
	t := newTable(
		column{"id", colInt}, column{"kind", colText}, column{"trigger", colText},
		column{"old_primary", colText}, column{"new_primary", colText}, column{"result", colText},
		column{"reason", colText}, column{"started_at", colTime}, column{"duration_ms", colFloat},
		column{"phases", colText}, column{"fence", colText},
	)
	for _, e := range evs {
		var started any
		var phases []string
		if len(e.Phases) > 0 {
			started = e.Phases[0].At
			for _, p := range e.Phases {
				phases = append(phases, p.Name+":"+strconv.FormatFloat(ms(p.At.Sub(e.Phases[0].At)), 'f', -1, 64))
			}
		}
		result := e.Result
		if result == "" {
			result = "running"
		}
		t.add(int64(e.ID), e.Kind, e.Trigger, e.OldPrimary, e.NewPrimary, result, e.Reason,
			started, ms(e.Duration()), strings.Join(phases, " "), e.Fence)
	}
	return t
}

func (a *Admin) status() *table {
	t := newTable(column{"name", colText}, column{"value", colText})
	add := func(name string, v any) {
		b, _ := text(v)
		t.add(name, string(b))
	}
	cfg := a.d.Config()
	snap := a.d.View.Load()
	add("version", a.d.Version)
	add("uptime_seconds", int64(time.Since(a.started)/time.Second))
	add("config_file", cfg.Path)
	add("primary", snap.Primary)
	add("epoch", snap.Epoch)
	add("write_gate", snap.Gate.String())
	add("write_gate_reason", snap.Reason)
	if snap.Gate == topology.WritesHeld {
		add("write_hold_until", snap.HoldUntil)
	}
	add("topology_version", snap.Version)
	up := int64(0)
	for i := range snap.Servers {
		if snap.Servers[i].Reachable {
			up++
		}
	}
	add("servers", int64(len(snap.Servers)))
	add("servers_up", up)
	if a.d.Failover != nil {
		add("failover_state", a.d.Failover.State())
		add("failover_events", int64(len(a.d.Failover.Events())))
	}
	if a.d.Proxy != nil {
		st := a.d.Proxy.Stats()
		add("accepting_clients", boolInt(st.Accepting))
		add("clients_connected", int64(st.ClientsConnected))
		add("clients_total", st.ClientsTotal)
		add("clients_refused", st.ClientsRefused)
		add("client_auth_failures", st.AuthFailures)
		add("statements", st.Statements)
		add("held_writes", int64(st.HeldWrites))
		add("hold_timeouts", st.HoldTimeouts)
	}
	if a.d.Digests != nil {
		add("query_digests", int64(a.d.Digests.Len()))
		add("query_digests_evicted", a.d.Digests.Evicted())
	}
	a.mu.Lock()
	add("admin_connections", int64(len(a.conns)))
	a.mu.Unlock()
	return t
}

// configTable flattens the running configuration (secrets masked) into
// key/value rows: "servers[1].address  127.0.0.1:23307".
func configTable(cfg *config.Config) (*table, error) {
	data, err := cfg.Redacted().Marshal()
	if err != nil {
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("re-reading the marshalled config: %w", err)
	}
	t := newTable(column{"key", colText}, column{"value", colText})
	t.add("path", cfg.Path)
	if len(root.Content) == 1 {
		flatten(t, "", root.Content[0])
	}
	return t, nil
}

func flatten(t *table, prefix string, n *yaml.Node) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if prefix != "" {
				key = prefix + "." + key
			}
			flatten(t, key, n.Content[i+1])
		}
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			t.add(prefix, "[]")
		}
		for i, c := range n.Content {
			flatten(t, fmt.Sprintf("%s[%d]", prefix, i), c)
		}
	default:
		t.add(prefix, n.Value)
	}
}
