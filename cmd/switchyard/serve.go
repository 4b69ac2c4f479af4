package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/switchyard/switchyard/app"
	"github.com/switchyard/switchyard/config"
)

func init() {
	commands["serve"] = command{
		usage: "switchyard serve --config FILE [--listen ADDR] [--admin ADDR] [--metrics ADDR]",
		run:   serve,
	}
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (YAML)")
	listen := fs.String("listen", "", "application listen address (overrides listen.app)")
	adminAddr := fs.String("admin", "", "admin listen address (overrides listen.admin)")
	metricsAddr := fs.String("metrics", "", "metrics listen address (overrides listen.metrics)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" {
		return fmt.Errorf("serve: --config FILE is required")
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Listen.App = *listen
	}
	if *adminAddr != "" {
		cfg.Listen.Admin = *adminAddr
	}
	if *metricsAddr != "" {
		cfg.Listen.Metrics = *metricsAddr
	}
	log := newLogger(cfg.Log)
	app.Version = version

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := app.Launch(ctx, cfg, log)
	if err != nil {
		return err
	}
	log.Info("switchyard serving", "version", version, "config", *path,
		"app", a.AppAddr(), "admin", a.AdminAddr(), "metrics", a.MetricsAddr())

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			_ = a.Reload() // logged by Reload; the running config stays on error
			continue
		}
		log.Info("shutting down", "signal", sig.String(), "timeout", cfg.Limits.ShutdownTimeout.D().String())
		sctx, scancel := context.WithTimeout(context.Background(), a.Config().Limits.ShutdownTimeout.D())
		err := a.Shutdown(sctx)
		scancel()
		return err
	}
	return nil
}

// newLogger builds the structured logger the config asks for.
func newLogger(c config.Log) *slog.Logger {
	var level slog.Level
	switch strings.ToLower(c.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.ToLower(c.Format) == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
