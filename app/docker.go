package app

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/docker"
)

// dockerServers keeps the health monitors and the proxy's pools in step with
// the servers Docker discovery finds (it is the docker.Registry Follow
// updates). The proxy and the monitors get the configuration's static
// servers plus the discovered ones; a discovered server with a static
// server's name replaces it. The current primary is never removed: failover
// must see it fail and move the role away first.
type dockerServers struct {
	a *App

	mu      sync.Mutex // guards servers; taken inside a.reloadMu
	servers map[string]config.Server
}

func newDockerServers(a *App) *dockerServers {
	return &dockerServers{a: a, servers: map[string]config.Server{}}
}

// AddServer monitors s and gives the proxy a pool for it.
func (r *dockerServers) AddServer(s config.Server) {
	r.a.reloadMu.Lock()
	defer r.a.reloadMu.Unlock()
	r.a.Health.AddServer(s)
	r.mu.Lock()
	r.servers[s.Name] = s
	r.mu.Unlock()
	r.reloadProxy()
}

// RemoveServer stops monitoring the named server and drops its pool, unless
// it is the current primary.
func (r *dockerServers) RemoveServer(name string) {
	r.a.reloadMu.Lock()
	defer r.a.reloadMu.Unlock()
	if r.a.view.Load().Primary == name {
		r.a.log.Warn("docker: not removing the current primary; failover has to replace it first", "server", name)
		return
	}
	r.mu.Lock()
	delete(r.servers, name)
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
