package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/switchyard/switchyard/config"
)

// DefaultResync is how often Watch re-lists containers even without events,
// in case the event stream missed something.
const DefaultResync = 30 * time.Second

// settleDelay is when Watch looks again after an event.
const settleDelay = 500 * time.Millisecond

// Discovery turns running containers that carry the configured label into
// servers. It is safe for concurrent use.
type Discovery struct {
	// Resync is Watch's safety-net re-list interval; DefaultResync when zero.
	Resync time.Duration

	cli *client.Client
	cfg config.Docker
	log *slog.Logger

	mu    sync.Mutex
	known map[string]config.Server // last result of Servers, by name
}

// NewDiscovery connects to the engine named by cfg.Endpoint (or $DOCKER_HOST,
// or the local socket) and checks that it answers within five seconds.
func NewDiscovery(cfg config.Docker, log *slog.Logger) (*Discovery, error) {
	if cfg.Label == "" {
		return nil, errors.New("docker discovery: docker.label is required (e.g. switchyard.cluster=shop)")
	}
	if cfg.Port == 0 {
		cfg.Port = 3306
	}
	if cfg.Fence == "" {
		cfg.Fence = "stop"
	}
	if log == nil {
		log = slog.Default()
	}
	cli, err := NewClient(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker discovery: engine at %s: %w", cli.DaemonHost(), err)
	}
	return &Discovery{cli: cli, cfg: cfg, log: log.With("component", "docker")}, nil
}

// Close releases the engine connection.
func (d *Discovery) Close() error { return d.cli.Close() }

// Servers lists the running labelled containers as servers, sorted by name.
// A server is named by its switchyard.name label (else the container name)
// and addressed by its IP on docker.network (else a published port of its
// switchyard.port or docker.port); datacenter, promotion and weight come from
// labels. Containers that cannot be addressed or whose labels are invalid are
// left out and logged. Watch reports changes relative to the last result.
func (d *Discovery) Servers(ctx context.Context) ([]config.Server, error) {
	list, err := d.cli.ContainerList(ctx, container.ListOptions{
		Filters: filters.NewArgs(filters.Arg("label", d.cfg.Label), filters.Arg("status", "running")),
	})
	if err != nil {
		return nil, fmt.Errorf("docker discovery: list containers with label %s: %w", d.cfg.Label, err)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	byName := map[string]config.Server{}
	for _, c := range list {
		s, err := d.server(c)
		if err != nil {
			d.log.Warn("container left out of discovery", "container", shortID(c.ID), "err", err)
			continue
		}
		if _, dup := byName[s.Name]; dup {
			d.log.Warn("container left out of discovery: duplicate server name", "container", shortID(c.ID), "server", s.Name)
			continue
		}
		byName[s.Name] = s
	}
	d.mu.Lock()
	d.known = byName
	d.mu.Unlock()
	return sortedServers(byName), nil
}

// server maps one container to a server.
func (d *Discovery) server(c container.Summary) (config.Server, error) {
	s := config.Server{
		Name:       serverName(c),
		Datacenter: c.Labels[LabelDatacenter],
		Promotion:  c.Labels[LabelPromotion],
		Weight:     100,
	}
	switch s.Promotion {
	case "":
		s.Promotion = "neutral"
	case "prefer", "neutral", "never":
	default:
		return s, fmt.Errorf("label %s=%q is not one of prefer|neutral|never", LabelPromotion, s.Promotion)
	}
	if w, ok := c.Labels[LabelWeight]; ok {
		n, err := strconv.Atoi(w)
		if err != nil || n < 0 {
			return s, fmt.Errorf("label %s=%q is not a weight >= 0", LabelWeight, w)
		}
		s.Weight = n
	}
	port := d.cfg.Port
	if p, ok := c.Labels[LabelPort]; ok {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return s, fmt.Errorf("label %s=%q is not a port", LabelPort, p)
		}
		port = n
	}
	host, hostPort, err := d.address(c, port)
	if err != nil {
		return s, err
	}
	s.Address = net.JoinHostPort(host, strconv.Itoa(hostPort))
	return s, nil
}

// serverName is the container's switchyard.name label, else its name.
func serverName(c container.Summary) string {
	if n := c.Labels[LabelName]; n != "" {
		return n
	}
	if len(c.Names) > 0 {
		return strings.TrimPrefix(c.Names[0], "/")
	}
	return shortID(c.ID)
}

// address is the container's IP on the configured network, or, without a
// network, the host side of the published port (0.0.0.0 means loopback).
func (d *Discovery) address(c container.Summary, port int) (string, int, error) {
	var nets map[string]string
	if c.NetworkSettings != nil {
		nets = map[string]string{}
		for name, ep := range c.NetworkSettings.Networks {
			if ep != nil && ep.IPAddress != "" {
				nets[name] = ep.IPAddress
			}
		}
	}
	if d.cfg.Network != "" {
		if ip, ok := nets[d.cfg.Network]; ok {
			return ip, port, nil
		}
		return "", 0, fmt.Errorf("not attached to network %s", d.cfg.Network)
	}
	for _, p := range c.Ports {
		if int(p.PrivatePort) == port && p.Type == "tcp" && p.PublicPort != 0 {
			ip := p.IP
			if ip == "" || ip == "0.0.0.0" || ip == "::" {
				ip = "127.0.0.1"
			}
			return ip, int(p.PublicPort), nil
		}
	}
	return "", 0, fmt.Errorf("port %d is not published and docker.network is not set", port)
}

// Watch follows Docker events and calls onChange, from Watch's goroutine,
// with the servers that appeared and disappeared since the last Servers call
// (or since Watch started: then every current server is "added"). A server
// whose address or labels changed is removed and added again. It re-lists on
// every relevant event and every Resync, reconnects when the event stream
// breaks, and returns when ctx is done.
func (d *Discovery) Watch(ctx context.Context, onChange func(added, removed []config.Server)) {
	resync := d.Resync
	if resync <= 0 {
		resync = DefaultResync
	}
	ticker := time.NewTicker(resync)
	defer ticker.Stop()
	for ctx.Err() == nil {
		evCtx, cancel := context.WithCancel(ctx)
		msgs, errs := d.cli.Events(evCtx, events.ListOptions{Filters: filters.NewArgs(
			filters.Arg("type", string(events.ContainerEventType)),
			filters.Arg("type", string(events.NetworkEventType)),
		)})
		d.sync(ctx, onChange) // catch up on what happened while not subscribed
		err := d.follow(ctx, msgs, errs, ticker.C, onChange)
		cancel()
		if ctx.Err() != nil {
			return
		}
		d.log.Warn("docker event stream broken; reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// follow handles one event subscription until it breaks or ctx is done.
func (d *Discovery) follow(ctx context.Context, msgs <-chan events.Message, errs <-chan error,
	tick <-chan time.Time, onChange func(added, removed []config.Server)) error {
	// The engine announces "die" before the container stops being listed as
	// running, so every event is followed by a second look once it settled.
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			return err
		case <-tick:
			d.sync(ctx, onChange)
		case <-settle:
			settle = nil
			d.sync(ctx, onChange)
		case m := <-msgs:
			if !d.relevant(m) {
				continue
			}
			d.log.Debug("docker event", "type", m.Type, "action", m.Action, "actor", shortID(m.Actor.ID))
			d.sync(ctx, onChange)
			settle = time.After(settleDelay)
		}
	}
}

// relevant reports whether an event can change the server list: a labelled
// container starting, dying, pausing or going away, or any container joining
// or leaving the network servers are addressed on.
func (d *Discovery) relevant(m events.Message) bool {
	switch m.Type {
	case events.ContainerEventType:
		switch m.Action {
		case events.ActionStart, events.ActionDie, events.ActionDestroy, events.ActionPause,
			events.ActionUnPause, events.ActionRename:
		default:
			return false
		}
		key, val, hasVal := strings.Cut(d.cfg.Label, "=")
		got, ok := m.Actor.Attributes[key]
		return ok && (!hasVal || got == val)
	case events.NetworkEventType:
		if m.Action != events.ActionConnect && m.Action != events.ActionDisconnect {
			return false
		}
		return d.cfg.Network == "" || m.Actor.Attributes["name"] == d.cfg.Network
	}
	return false
}

// sync re-lists and reports the difference to the previous list.
func (d *Discovery) sync(ctx context.Context, onChange func(added, removed []config.Server)) {
	d.mu.Lock()
	before := d.known
	d.mu.Unlock()
	if _, err := d.Servers(ctx); err != nil {
		if ctx.Err() == nil {
			d.log.Warn("docker discovery re-list failed; keeping the previous servers", "err", err)
		}
		return
	}
	d.mu.Lock()
	after := d.known
	d.mu.Unlock()
	added, removed := diff(before, after)
	if len(added) == 0 && len(removed) == 0 {
		return
	}
	for _, s := range removed {
		d.log.Info("docker server removed", "server", s.Name, "addr", s.Address)
	}
	for _, s := range added {
		d.log.Info("docker server added", "server", s.Name, "addr", s.Address, "datacenter", s.Datacenter)
	}
	onChange(added, removed)
}

// diff returns the servers only in after (or changed) and only in before (or
// changed), each sorted by name.
func diff(before, after map[string]config.Server) (added, removed []config.Server) {
	for name, a := range after {
		if b, ok := before[name]; !ok || b != a {
			added = append(added, a)
		}
	}
	for name, b := range before {
		if a, ok := after[name]; !ok || a != b {
			removed = append(removed, b)
		}
	}
	sortByName(added)
	sortByName(removed)
	return added, removed
}

func sortedServers(m map[string]config.Server) []config.Server {
	out := make([]config.Server, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	sortByName(out)
	return out
}

func sortByName(ss []config.Server) {
	sort.Slice(ss, func(i, j int) bool { return ss[i].Name < ss[j].Name })
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Registry is what Follow keeps in step with Docker; *health.Monitor is one.
type Registry interface {
	AddServer(s config.Server)
	RemoveServer(name string)
}

// Follow adds the current servers to r and then, until ctx is done, adds
// servers that appear and removes those that disappear (health.Monitor
// refuses to remove the current primary, so failover still sees it fail).
// A server whose address changed is removed and added again. Static servers
// from the configuration may share the registry; a discovered server with a
// static server's name updates that server.
func (d *Discovery) Follow(ctx context.Context, r Registry) error {
	servers, err := d.Servers(ctx)
	if err != nil {
		return err
	}
	for _, s := range servers {
		r.AddServer(s)
	}
	d.Watch(ctx, func(added, removed []config.Server) {
		for _, s := range removed {
			r.RemoveServer(s.Name)
		}
		for _, s := range added {
			r.AddServer(s)
		}
	})
	return nil
}
