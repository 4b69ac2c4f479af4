package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/switchyard/switchyard/bench"
	"github.com/switchyard/switchyard/config"
)

const drillUsage = "switchyard drill (--sandbox [--semi-sync] | --config FILE [--sandbox-dir DIR]) (--kill-primary | --switchover) [--writers 4] [--readers 4] [--warmup 2s] [--duration 6s] [--runs 1] [--json FILE]"

func init() {
	commands["drill"] = command{usage: drillUsage, run: runDrill}
}

func runDrill(args []string) error {
	fs := flag.NewFlagSet("drill", flag.ContinueOnError)
	path := fs.String("config", "", "run an in-process Switchyard from this config (stop any other Switchyard on it first)")
	sbDir := fs.String("sandbox-dir", "", "the `sandbox up` directory behind --config, for --kill-primary (default: the config's directory)")
	useSandbox := fs.Bool("sandbox", false, "start a fresh 3-node sandbox for every run (the default without --config)")
	semiSync := fs.Bool("semi-sync", false, "with --sandbox: semi-synchronous replication")
	kill := fs.Bool("kill-primary", false, "kill -9 the primary")
	switchover := fs.Bool("switchover", false, "planned switchover")
	writers := fs.Int("writers", 4, "autocommit INSERT loops")
	readers := fs.Int("readers", 4, "point-read loops")
	warmup := fs.Duration("warmup", 2*time.Second, "load before the event")
	duration := fs.Duration("duration", 6*time.Second, "load after the event")
	runs := fs.Int("runs", 1, "drills; the report shows each and the medians")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *kill == *switchover {
		return errors.New("drill: give exactly one of --kill-primary and --switchover\nusage: " + drillUsage)
	}
	event := bench.EventSwitchover
	if *kill {
		event = bench.EventKillPrimary
	}
	if *useSandbox && *path != "" {
		return errors.New("drill: --sandbox and --config exclude each other")
	}
	eo := bench.EnvOptions{SemiSync: *semiSync}
	if *path != "" {
		if *semiSync {
			return errors.New("drill: --semi-sync applies to --sandbox; an existing sandbox keeps its own setting")
		}
		if *kill && *runs > 1 {
			return errors.New("drill: --kill-primary on an existing deployment runs once (restart the old primary, then drill again)")
		}
		cfg, err := config.Load(*path)
		if err != nil {
			return err
		}
		eo.Config = cfg
		eo.SandboxDir = *sbDir
		if eo.SandboxDir == "" && *kill {
			eo.SandboxDir = filepath.Dir(*path)
		}
	}
	o := bench.DrillOptions{Event: event, Writers: *writers, Readers: *readers, Warmup: *warmup, After: *duration}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var results []*bench.DrillRun
	var shared *bench.Env
	defer func() {
		if shared != nil {
			shared.Close()
		}
	}()
	for i := range *runs {
		env := shared
		if env == nil {
			fmt.Fprintf(os.Stderr, "drill: run %d/%d: starting\n", i+1, *runs)
			var err error
			if env, err = bench.StartEnv(ctx, eo); err != nil {
				return err
			}
			if eo.Config != nil {
				shared = env
			}
		}
		run, err := bench.RunDrill(ctx, env, o)
		if shared == nil {
			env.Close()
		}
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		fmt.Fprintf(os.Stderr, "drill: run %d/%d: %s→%s, write gap %.0f ms, lost %d\n", i+1, *runs, run.OldPrimary, run.NewPrimary, run.WriteGapMs, run.LostWrites)
		results = append(results, run)
	}
	rep := bench.NewDrillReport(event, *semiSync, results)
	if err := bench.WriteDrillTable(os.Stdout, rep); err != nil {
		return err
	}
	return writeJSONFile(*jsonOut, rep)
}
