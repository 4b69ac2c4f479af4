package app

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/docker"
	"github.com/switchyard/switchyard/failover"
)

// dockerServers keeps the health monitors and the proxy's pools in step with
// the servers Docker discovery finds (it is the docker.Registry Follow
// updates). The proxy and the monitors get the configuration's static
// servers plus the discovered ones; a discovered server with a static
// server's name replaces it. The current primary is never removed: failover
// must see it fail and move the role away first.
type dockerServers struct {
	a *App

	mu      sync.Mutex // guards servers and pending; taken inside a.reloadMu
	servers map[string]config.Server
	// pending are servers discovery removed while they were the primary;
	// they are removed once failover has moved the role away and is done.
	pending map[string]bool
}

func newDockerServers(a *App) *dockerServers {
	return &dockerServers{a: a, servers: map[string]config.Server{}, pending: map[string]bool{}}
}

// AddServer monitors s and gives the proxy a pool for it.
func (r *dockerServers) AddServer(s config.Server) {
	r.a.reloadMu.Lock()
	defer r.a.reloadMu.Unlock()
	r.a.Health.AddServer(s)
	r.mu.Lock()
	r.servers[s.Name] = s
	delete(r.pending, s.Name)
	r.mu.Unlock()
	r.reloadProxy()
}

// RemoveServer stops monitoring the named server and drops its pool, unless
// it is the current primary.
func (r *dockerServers) RemoveServer(name string) {
	r.a.reloadMu.Lock()
	defer r.a.reloadMu.Unlock()
	if r.a.view.Load().Primary == name {
		r.a.log.Warn("docker: not removing the current primary before failover has replaced it", "server", name)
		r.mu.Lock()
		r.pending[name] = true
		r.mu.Unlock()
		return
	}
	r.remove(name)
}

// remove drops a server that is not the primary. Called with a.reloadMu held.
func (r *dockerServers) remove(name string) {
	r.mu.Lock()
	delete(r.servers, name)
	delete(r.pending, name)
	r.mu.Unlock()
	if r.isStatic(name) {
		// The static definition stays; restore it in the monitor.
		for _, s := range r.a.Config().Servers {
			if s.Name == name {
				r.a.Health.AddServer(s)
			}
		}
	} else {
		r.a.Health.RemoveServer(name)
	}
	r.reloadProxy()
}

// removePending removes the servers whose removal was refused while they
// were the primary, once another server is primary and failover is done
// (it still works with the old primary until then).
func (r *dockerServers) removePending() {
	r.mu.Lock()
	n := len(r.pending)
	r.mu.Unlock()
	if n == 0 || !strings.HasPrefix(r.a.Failover.State(), failover.StateHealthy) {
		return
	}
	r.a.reloadMu.Lock()
	defer r.a.reloadMu.Unlock()
	primary := r.a.view.Load().Primary
	r.mu.Lock()
	var names []string
	for name := range r.pending {
		if name != primary {
			names = append(names, name)
		}
	}
	r.mu.Unlock()
	for _, name := range names {
		r.a.log.Info("docker: removing the former primary discovery lost", "server", name, "primary", primary)
		r.remove(name)
	}
}

// watchPending calls removePending on topology changes until ctx ends.
func (r *dockerServers) watchPending(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.a.view.Changed():
		case <-time.After(time.Second):
		}
		r.removePending()
	}
}

func (r *dockerServers) isStatic(name string) bool {
	for _, s := range r.a.Config().Servers {
		if s.Name == name {
			return true
		}
	}
	return false
}

// reloadProxy applies the running configuration with the discovered servers
// to the proxy. Called with a.reloadMu held.
func (r *dockerServers) reloadProxy() {
	if err := r.a.Proxy.Reload(r.effective(r.a.Config())); err != nil {
		r.a.log.Error("docker: applying discovered servers to the proxy failed", "err", err)
	}
}

// effective returns cfg with its static servers plus the discovered ones,
// sorted by name (cfg itself is not changed).
func (r *dockerServers) effective(cfg *config.Config) *config.Config {
	byName := map[string]config.Server{}
	for _, s := range cfg.Servers {
		byName[s.Name] = s
	}
	r.mu.Lock()
	for name, s := range r.servers {
		byName[name] = s
	}
	r.mu.Unlock()
	out := *cfg
	out.Servers = make([]config.Server, 0, len(byName))
	for _, s := range byName {
		out.Servers = append(out.Servers, s)
	}
	sort.Slice(out.Servers, func(i, j int) bool { return out.Servers[i].Name < out.Servers[j].Name })
	return &out
}

// effectiveConfig is cfg plus the discovered servers when discovery runs.
func (a *App) effectiveConfig(cfg *config.Config) *config.Config {
	if a.dockerReg == nil {
		return cfg
	}
	return a.dockerReg.effective(cfg)
}

// followDocker runs discovery until ctx ends. An initial listing that fails
// (the engine went away after New checked it) is retried.
func (a *App) followDocker(ctx context.Context) {
	for {
		err := a.disc.Follow(ctx, a.dockerReg)
		if err == nil || ctx.Err() != nil {
			return
		}
		a.log.Error("docker discovery failed; retrying in 5s", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

// newDocker connects discovery when the configuration enables it.
func (a *App) newDocker(cfg *config.Config) error {
	if !cfg.Docker.Enabled {
		return nil
	}
	disc, err := docker.NewDiscovery(cfg.Docker, a.log)
	if err != nil {
		return err
	}
	a.disc = disc
	a.dockerReg = newDockerServers(a)
	return nil
}
