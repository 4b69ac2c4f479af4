package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/sandbox"
)

const sandboxUsage = `switchyard sandbox up   --dir DIR [--replicas N] [--base-port P] [--semi-sync]
  switchyard sandbox down --dir DIR
  switchyard sandbox kill|start --dir DIR NODE`

func init() {
	commands["sandbox"] = command{usage: sandboxUsage, run: func(args []string) error {
		return runSandbox(args, os.Stdout)
	}}
}

// sandboxListen are the proxy's standard listeners, written into DIR/switchyard.yaml.
var sandboxListen = config.Listen{App: "127.0.0.1:6033", Admin: "127.0.0.1:6032", Metrics: "127.0.0.1:9104"}

func runSandbox(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage:\n  " + sandboxUsage)
	}
	switch args[0] {
	case "up":
		return sandboxUp(args[1:], out)
	case "down":
		fs, dir := sandboxFlags("down")
		if _, err := parseArgs(fs, args[1:], 0); err != nil {
			return err
		}
		s, err := sandbox.Open(*dir)
		if err != nil {
			return err
		}
		if err := s.Down(); err != nil {
			return err
		}
		fmt.Fprintf(out, "sandbox in %s is down\n", s.Dir)
		return nil
	case "kill", "start":
		fs, dir := sandboxFlags(args[0])
		pos, err := parseArgs(fs, args[1:], 1)
		if err != nil {
			return err
		}
		s, err := sandbox.Open(*dir)
		if err != nil {
			return err
		}
		done := "killed"
		if args[0] == "kill" {
			err = s.Kill(pos[0])
		} else {
			err, done = s.Start(pos[0]), "started"
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s %s (%s)\n", done, pos[0], s.Node(pos[0]).Addr)
		return nil
	}
	return fmt.Errorf("sandbox: unknown subcommand %q\nusage:\n  %s", args[0], sandboxUsage)
}

func sandboxFlags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("sandbox "+name, flag.ContinueOnError)
	return fs, fs.String("dir", "", "sandbox directory (required)")
}

// parseArgs accepts flags before and after the positional arguments
// (`kill --dir D db1` and `kill db1 --dir D`) and checks their count.
func parseArgs(fs *flag.FlagSet, args []string, positional int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if fs.Lookup("dir").Value.String() == "" {
		return nil, fmt.Errorf("%s: --dir is required", fs.Name())
	}
	if len(pos) != positional {
		return nil, fmt.Errorf("%s: want %d argument(s) after the flags, got %q", fs.Name(), positional, pos)
	}
	return pos, nil
}

func sandboxUp(args []string, out io.Writer) error {
	fs, dir := sandboxFlags("up")
	replicas := fs.Int("replicas", 2, "number of replicas")
	basePort := fs.Int("base-port", sandbox.DefaultBasePort, "db1's port; db2 gets the next one, and so on")
	semiSync := fs.Bool("semi-sync", false, "semi-synchronous replication")
	// Backends other than local mariadbd processes (--docker) plug in here:
	// add the flag, and start them instead of calling sandbox.Up below.
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	if *replicas < 0 {
		return fmt.Errorf("sandbox up: --replicas %d < 0", *replicas)
	}
	ports := make([]int, *replicas+1)
	for i := range ports {
		ports[i] = *basePort + i
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := sandbox.Up(ctx, sandbox.Options{Dir: *dir, Ports: ports, SemiSync: *semiSync})
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(s.Dir, "switchyard.yaml")
	if err := s.WriteConfig(cfgPath, sandboxListen); err != nil {
		return errors.Join(err, s.Down())
	}
	printSandbox(out, s, cfgPath)
	return nil
}

func printSandbox(out io.Writer, s *sandbox.Sandbox, cfgPath string) {
	mode := "asynchronous"
	if s.SemiSync {
		mode = "semi-synchronous"
	}
	fmt.Fprintf(out, "sandbox up in %s: %d nodes, GTID %s replication from db1\n", s.Dir, len(s.Nodes), mode)
	fmt.Fprintf(out, "config:  %s\n", cfgPath)
	fmt.Fprintf(out, "start the proxy:  switchyard serve --config %s\n", cfgPath)
	fmt.Fprintf(out, "app:     %s\n", mariadbCommand(sandboxListen.App, sandbox.AppUser, sandbox.AppPassword))
	fmt.Fprintf(out, "admin:   %s\n", mariadbCommand(sandboxListen.Admin, sandbox.AdminUser, sandbox.AdminPassword))
	fmt.Fprintf(out, "metrics: http://%s/metrics\n", sandboxListen.Metrics)
	fmt.Fprintln(out, "nodes (direct):")
	for _, n := range s.Nodes {
		role := "replica"
		if n == s.Primary() {
			role = "primary"
		}
		fmt.Fprintf(out, "  %-4s %-7s %s   %s\n", n.Name, role, n.Addr, mariadbCommand(n.Addr, sandbox.AppUser, sandbox.AppPassword))
	}
	fmt.Fprintf(out, "stop:    switchyard sandbox down --dir %s\n", s.Dir)
}

func mariadbCommand(addr, user, password string) string {
	host, port, _ := net.SplitHostPort(addr)
	return fmt.Sprintf("mariadb -h%s -P%s -u%s -p%s", host, port, user, password)
}
