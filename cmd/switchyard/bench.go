package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/switchyard/switchyard/bench"
	"github.com/switchyard/switchyard/config"
)

const benchUsage = "switchyard bench [--config FILE [--proxy ADDR] | --sandbox] [--runs 5] [--duration 2s] [--workloads a,b] [--idle-clients 10000] [--json FILE]"

func init() {
	commands["bench"] = command{usage: benchUsage, run: runBench}
}

func runBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	path := fs.String("config", "", "run against this deployment's primary and a Switchyard built from this config")
	useSandbox := fs.Bool("sandbox", false, "start a temporary sandbox (the default without --config)")
	proxyAddr := fs.String("proxy", "", "an already running Switchyard to measure instead of an in-process one (needs --config)")
	runs := fs.Int("runs", 5, "runs per workload and target; the table shows medians")
	duration := fs.Duration("duration", 2*time.Second, "measured time of one run")
	warmup := fs.Duration("warmup", 300*time.Millisecond, "unmeasured warm-up before each run")
	workloads := fs.String("workloads", "", "comma-separated workloads (default all): "+workloadNames())
	idle := fs.Int("idle-clients", 10000, "idle clients for the memory check (0 skips it)")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected argument %q\nusage: %s", fs.Arg(0), benchUsage)
	}
	if *useSandbox && *path != "" {
		return errors.New("bench: --sandbox and --config exclude each other")
	}
	if *proxyAddr != "" && *path == "" {
		return errors.New("bench: --proxy needs --config (for the credentials and the primary)")
	}
	eo := bench.EnvOptions{ProxyAddr: *proxyAddr}
	if *path != "" {
		cfg, err := config.Load(*path)
		if err != nil {
			return err
		}
		eo.Config = cfg
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	fmt.Fprintln(os.Stderr, "bench: starting", describeEnv(eo))
	env, err := bench.StartEnv(ctx, eo)
	if err != nil {
		return err
	}
	defer env.Close()
	rep, err := bench.Run(ctx, env, bench.Options{
		Runs: *runs, Duration: *duration, Warmup: *warmup,
		Workloads: bench.ParseList(*workloads),
		IdleConns: *idle, Binary: bin,
		Progress: os.Stderr,
	})
	if err != nil {
		return err
	}
	if err := bench.WriteTable(os.Stdout, rep); err != nil {
		return err
	}
	return writeJSONFile(*jsonOut, rep)
}

func describeEnv(eo bench.EnvOptions) string {
	switch {
	case eo.Config == nil:
		return "a temporary sandbox and an in-process switchyard"
	case eo.ProxyAddr != "":
		return "against " + eo.Config.Path + " and the switchyard at " + eo.ProxyAddr
	}
	return "against " + eo.Config.Path + " with an in-process switchyard"
}

func workloadNames() string {
	var names []string
	for _, w := range bench.Workloads() {
		names = append(names, w.Name)
	}
	return strings.Join(names, ",")
}

func writeJSONFile(path string, v any) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := bench.WriteJSON(f, v); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
