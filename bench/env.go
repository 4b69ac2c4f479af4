package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/switchyard/switchyard/app"
	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/sandbox"
)

// EnvOptions say what to run the benchmark or drill against.
type EnvOptions struct {
	// Config is an existing deployment's configuration; nil starts a fresh
	// sandbox (in a temporary directory, removed by Close).
	Config *config.Config
	// SandboxDir is the `switchyard sandbox up` directory behind Config, for
	// drills that kill a node. Empty: only the proxy is used.
	SandboxDir string
	Replicas   int  // sandbox replicas; default 2
	SemiSync   bool // sandbox with semi-synchronous replication
	// ProxyAddr is an already running Switchyard; empty starts one in-process.
	ProxyAddr string
	// Mutate adjusts the configuration of the in-process Switchyard.
	Mutate func(*config.Config)
	Logger *slog.Logger // the in-process Switchyard's log; nil discards it
}

// Env is a running topology with Switchyard in front of it.
type Env struct {
	Config  *config.Config
	Sandbox *sandbox.Sandbox // nil when neither started here nor opened
	App     *app.App         // nil with EnvOptions.ProxyAddr
	Proxy   string           // Switchyard's application address
	User    string
	Pass    string

	ownSandbox bool
}

// StartEnv brings up what o describes and waits until Switchyard knows a
// writable primary.
func StartEnv(ctx context.Context, o EnvOptions) (*Env, error) {
	e := &Env{}
	cfg := o.Config
	if cfg == nil {
		sb, err := upSandbox(ctx, o)
		if err != nil {
			return nil, err
		}
		e.Sandbox, e.ownSandbox = sb, true
		cfg = sb.Config()
	} else if o.SandboxDir != "" {
		sb, err := sandbox.Open(o.SandboxDir)
		if err != nil {
			return nil, err
		}
		e.Sandbox = sb
	}
	if len(cfg.Users) == 0 {
		e.Close()
		return nil, errors.New("bench: the configuration has no application user")
	}
	e.Config, e.User, e.Pass = cfg, cfg.Users[0].Name, cfg.Users[0].Password
	if o.ProxyAddr != "" {
		e.Proxy = o.ProxyAddr
		return e, nil
	}
	run := *cfg
	run.Listen = config.Listen{App: "127.0.0.1:0"}
	if o.Mutate != nil {
		o.Mutate(&run)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a, err := app.Launch(context.Background(), &run, log)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("bench: start switchyard: %w", err)
	}
	e.App, e.Proxy = a, a.AppAddr()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := a.WaitReady(wctx); err != nil {
		e.Close()
		return nil, fmt.Errorf("bench: %w", err)
	}
	return e, nil
}

// PrimaryAddr is the current primary's address: as Switchyard sees it when it
// runs in-process, else the sandbox's db1 or the first configured server.
func (e *Env) PrimaryAddr() string {
	if e.App != nil {
		if p := e.App.View().Load().PrimaryServer(); p != nil {
			return p.Addr
		}
	}
	if e.Sandbox != nil {
		return e.Sandbox.Primary().Addr
	}
	return e.Config.Servers[0].Address
}

// Close stops the in-process Switchyard and a sandbox started here.
func (e *Env) Close() error {
	var errs []error
	if e.App != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		errs = append(errs, e.App.Shutdown(ctx))
		cancel()
	}
	if e.ownSandbox {
		errs = append(errs, e.Sandbox.Down())
	}
	return errors.Join(errs...)
}

func upSandbox(ctx context.Context, o EnvOptions) (*sandbox.Sandbox, error) {
	replicas := o.Replicas
	if replicas == 0 {
		replicas = 2
	}
	// A port picked as free can be taken before mariadbd binds it; retry.
	for attempt := 1; ; attempt++ {
		dir, err := os.MkdirTemp("", "sybench")
		if err != nil {
			return nil, err
		}
		ports, err := freePorts(replicas + 1)
		if err != nil {
			return nil, err
		}
		sb, err := sandbox.Up(ctx, sandbox.Options{
			Dir: dir, Ports: ports, SemiSync: o.SemiSync, ExitWithParent: true,
		})
		if err == nil {
			return sb, nil
		}
		os.RemoveAll(dir)
		if !errors.Is(err, sandbox.ErrPortInUse) || attempt == 3 {
			return nil, fmt.Errorf("bench: sandbox: %w", err)
		}
	}
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("bench: free port: %w", err)
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
