// Package app wires Switchyard's parts into the running product: the proxy,
// health monitors, the failover manager, the admin port, metrics and Docker
// discovery around one topology view. `switchyard serve` is a thin shell
// around it, and end-to-end tests and benchmarks start it in-process.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/admin"
	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/digest"
	"github.com/switchyard/switchyard/docker"
	"github.com/switchyard/switchyard/failover"
	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/metrics"
	"github.com/switchyard/switchyard/proxy"
	"github.com/switchyard/switchyard/routing"
	"github.com/switchyard/switchyard/topology"
)

// Version is reported by the admin port and metrics.
var Version = "dev"

// App is one running Switchyard.
type App struct {
	log  *slog.Logger
	cfg  atomic.Pointer[config.Config]
	view *topology.View

	Proxy    *proxy.Server
	Health   *health.Monitor
	Failover *failover.Manager
	Admin    *admin.Admin
	Metrics  *metrics.Metrics
	Digests  *digest.Store

	info      *proxyInfo
	disc      *docker.Discovery // nil unless docker.enabled
	dockerReg *dockerServers    // the discovered servers; nil unless docker.enabled
	reloadMu  sync.Mutex
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	appLn, adminLn, metricsLn net.Listener
}

// New builds every part from cfg without starting anything.
func New(cfg *config.Config, log *slog.Logger) (*App, error) {
	if log == nil {
		log = slog.Default()
	}
	a := &App{log: log}
	a.cfg.Store(cfg)

	servers := make([]topology.Server, 0, len(cfg.Servers))
	for _, s := range cfg.Servers {
		servers = append(servers, health.ServerFromConfig(s))
	}
	a.view = topology.NewView(servers)

	router, err := routing.NewRouter(cfg)
	if err != nil {
		return nil, fmt.Errorf("routing: %w", err)
	}
	a.Health = health.New(cfg, a.view, log)
	if err := a.newDocker(cfg); err != nil {
		return nil, err
	}
	var fencer failover.Fencer // a nil *docker.Fencer would not be a nil Fencer
	if a.disc != nil {
		fencer = a.disc.Fencer(cfg.Docker.Fence)
	}
	a.Digests = digest.New(digest.Options{})

	// The proxy reports statements to metrics, which forwards them to the
	// digest store; metrics reads the proxy and failover back through the
	// adapters, which are filled in once those exist.
	info := &proxyInfo{}
	a.info = info
	ctl := &failoverControl{}
	a.Metrics = metrics.New(metrics.Deps{View: a.view, Proxy: info, Failover: ctl, Digests: a.Digests, Logger: log})
	a.Proxy, err = proxy.New(proxy.Options{Config: cfg, View: a.view, Router: router, Observer: a.Metrics, Logger: log})
	if err != nil {
		a.closeDiscovery()
		return nil, fmt.Errorf("proxy: %w", err)
	}
	info.p = a.Proxy
	a.Failover = failover.New(failover.Options{Config: cfg, View: a.view, Health: a.Health, Fencer: fencer, Drainer: a.Proxy, Logger: log})
	ctl.m = a.Failover
	a.Admin = admin.New(admin.Deps{
		Config:   a.Config,
		TLS:      a.Proxy.ClientTLS(),
		Reload:   a.Reload,
		View:     a.view,
		Proxy:    info,
		Failover: ctl,
		Digests:  a.Digests,
		Logger:   log,
		Version:  Version,
	})
	return a, nil
}

// Config returns the running configuration.
func (a *App) Config() *config.Config { return a.cfg.Load() }

// View returns the topology view.
func (a *App) View() *topology.View { return a.view }

// Listen opens the configured listeners. Addresses ending in ":0" get a free
// port; AppAddr and friends report what was chosen.
func (a *App) Listen() error {
	cfg := a.Config()
	var err error
	if a.appLn, err = net.Listen("tcp", cfg.Listen.App); err != nil {
		return fmt.Errorf("listen app %s: %w", cfg.Listen.App, err)
	}
	if cfg.Listen.Admin != "" {
		if a.adminLn, err = net.Listen("tcp", cfg.Listen.Admin); err != nil {
			a.appLn.Close()
			return fmt.Errorf("listen admin %s: %w", cfg.Listen.Admin, err)
		}
	}
	if cfg.Listen.Metrics != "" {
		if a.metricsLn, err = net.Listen("tcp", cfg.Listen.Metrics); err != nil {
			a.appLn.Close()
			if a.adminLn != nil {
				a.adminLn.Close()
			}
			return fmt.Errorf("listen metrics %s: %w", cfg.Listen.Metrics, err)
		}
	}
	return nil
}

// AppAddr is the application listener's address ("" before Listen).
func (a *App) AppAddr() string { return addr(a.appLn) }

// AdminAddr is the admin listener's address.
func (a *App) AdminAddr() string { return addr(a.adminLn) }

// MetricsAddr is the metrics listener's address.
func (a *App) MetricsAddr() string { return addr(a.metricsLn) }

func addr(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// Start runs monitors, failover and the listeners in the background. Call
// Listen first.
func (a *App) Start(ctx context.Context) error {
	if a.appLn == nil {
		return errors.New("app: Start before Listen")
	}
	ctx, a.cancel = context.WithCancel(ctx)
	a.goRun(func() { a.Health.Run(ctx) })
	a.goRun(func() { a.Failover.Run(ctx) })
	if a.disc != nil {
		a.goRun(func() { a.followDocker(ctx) })
		a.goRun(func() { a.dockerReg.watchPending(ctx) })
	}
	a.goRun(func() { a.serve("app", a.Proxy.Serve, a.appLn) })
	if a.adminLn != nil {
		a.goRun(func() { a.serve("admin", a.Admin.Serve, a.adminLn) })
	}
	if a.metricsLn != nil {
		a.goRun(func() { a.serve("metrics", a.Metrics.Serve, a.metricsLn) })
	}
	return nil
}

func (a *App) goRun(fn func()) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		fn()
	}()
}

func (a *App) serve(name string, fn func(net.Listener) error, ln net.Listener) {
	if err := fn(ln); err != nil && !errors.Is(err, net.ErrClosed) {
		a.log.Error("listener stopped", "listener", name, "addr", ln.Addr().String(), "err", err)
	}
}

// WaitReady blocks until a writable primary is known or ctx ends.
func (a *App) WaitReady(ctx context.Context) error {
	for {
		ch := a.view.Changed()
		snap := a.view.Load()
		if snap.Primary != "" && snap.Gate == topology.WritesOpen {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no writable primary yet (%s): %w", a.Failover.State(), ctx.Err())
		case <-ch:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Reload re-reads the configuration file and applies it without dropping
// clients. An invalid file is rejected whole and the running config stays.
func (a *App) Reload() error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	cur := a.Config()
	if cur.Path == "" {
		err := errors.New("reload: the running configuration was not loaded from a file")
		a.Metrics.ConfigReloaded(err)
		return err
	}
	next, err := config.Load(cur.Path)
	if err == nil {
		err = a.apply(next)
	}
	a.Metrics.ConfigReloaded(err)
	if err != nil {
		a.log.Error("config reload refused; the running configuration stays", "file", cur.Path, "err", err)
		return err
	}
	a.log.Info("config reloaded", "file", cur.Path, "servers", len(next.Servers))
	return nil
}

func (a *App) apply(next *config.Config) error {
	cur := a.Config()
	if next.Listen != cur.Listen {
		// Listeners stay as started (the file's or the command line's);
		// changing them takes a restart, the rest of the file still applies.
		a.log.Warn("config reload: listen addresses are not reloaded; restart to change them", "running", cur.Listen, "file", next.Listen)
		next.Listen = cur.Listen
	}
	if next.Docker != cur.Docker {
		return fmt.Errorf("reload: the docker section cannot change without a restart (have %+v, file says %+v)", cur.Docker, next.Docker)
	}
	// Servers found by Docker discovery stay next to the file's servers.
	eff := a.effectiveConfig(next)
	if err := a.Proxy.Reload(eff); err != nil {
		return err
	}
	a.Health.Reload(eff)
	a.Failover.Reload(next)
	a.cfg.Store(next)
	return nil
}

// Shutdown stops accepting clients, lets running statements finish (bounded
// by ctx), then stops everything else.
func (a *App) Shutdown(ctx context.Context) error {
	a.info.closing.Store(true)
	err := a.Proxy.Shutdown(ctx)
	if a.adminLn != nil {
		a.Admin.Close()
	}
	if a.metricsLn != nil {
		a.Metrics.Close()
	}
	if a.cancel != nil {
		a.cancel()
	}
	a.wg.Wait()
	a.closeDiscovery()
	return err
}

func (a *App) closeDiscovery() {
	if a.disc != nil {
		a.disc.Close()
	}
}

// Launch builds an App from cfg, opens its listeners and starts it: what
// `switchyard serve` and in-process benchmarks and tests do.
func Launch(ctx context.Context, cfg *config.Config, log *slog.Logger) (*App, error) {
	a, err := New(cfg, log)
	if err != nil {
		return nil, err
	}
	if err := a.Listen(); err != nil {
		a.closeDiscovery()
		return nil, err
	}
	return a, a.Start(ctx) // cannot fail after Listen
}
