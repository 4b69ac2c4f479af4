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

	"github.com/docker/docker/errdefs"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/docker"
	"github.com/switchyard/switchyard/sandbox"
)

const sandboxUsage = `switchyard sandbox up   --dir DIR [--replicas N] [--base-port P] [--semi-sync]
  switchyard sandbox up   --dir DIR --docker [--image IMAGE] [--network NAME] [--replicas N]
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
		if docker.HasSandbox(*dir) {
			s, err := docker.OpenSandbox(*dir)
			if err != nil {
				return err
			}
			if err := s.Down(); err != nil {
				return err
			}
			fmt.Fprintf(out, "container sandbox in %s is down\n", s.Dir)
			return nil
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
		if docker.HasSandbox(*dir) {
			return dockerKillStart(*dir, args[0], pos[0], out)
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
	useDocker := fs.Bool("docker", false, "run the nodes as Docker containers (discovered by label) instead of local mariadbd processes")
	image := fs.String("image", docker.DefaultImage, "with --docker: MariaDB image; the default one is built from the host's mariadbd when missing")
	network := fs.String("network", "", "with --docker: bridge network for the nodes (default: one created for the sandbox)")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	if *replicas < 0 {
		return fmt.Errorf("sandbox up: --replicas %d < 0", *replicas)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *useDocker {
		for _, name := range []string{"base-port", "semi-sync"} {
			if set[name] {
				return fmt.Errorf("sandbox up: --%s does not apply to --docker", name)
			}
		}
		return dockerSandboxUp(*dir, *image, *network, *replicas, out)
	}
	for _, name := range []string{"image", "network"} {
		if set[name] {
			return fmt.Errorf("sandbox up: --%s needs --docker", name)
		}
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
	printProxy(out, cfgPath)
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

// printProxy prints how to start the proxy on cfgPath and reach it.
func printProxy(out io.Writer, cfgPath string) {
	fmt.Fprintf(out, "start the proxy:  switchyard serve --config %s\n", cfgPath)
	fmt.Fprintf(out, "app:     %s\n", mariadbCommand(sandboxListen.App, sandbox.AppUser, sandbox.AppPassword))
	fmt.Fprintf(out, "admin:   %s\n", mariadbCommand(sandboxListen.Admin, sandbox.AdminUser, sandbox.AdminPassword))
	fmt.Fprintf(out, "metrics: http://%s/metrics\n", sandboxListen.Metrics)
}

func mariadbCommand(addr, user, password string) string {
	host, port, _ := net.SplitHostPort(addr)
	return fmt.Sprintf("mariadb -h%s -P%s -u%s -p%s", host, port, user, password)
}

// dockerSandboxUp starts a container sandbox (see package docker) and writes
// DIR/switchyard.yaml with Docker discovery and the standard listeners.
func dockerSandboxUp(dir, image, network string, replicas int, out io.Writer) error {
	if replicas == 0 {
		// docker.SandboxUp reads 0 as its default; a lone primary is not
		// offered by the container sandbox.
		return errors.New("sandbox up: --docker needs --replicas >= 1")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if image == docker.DefaultImage {
		if err := ensureLocalImage(ctx, image, out); err != nil {
			return err
		}
	}
	s, err := docker.SandboxUp(ctx, docker.SandboxOptions{Dir: dir, Image: image, Network: network, Replicas: replicas})
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(s.Dir, "switchyard.yaml")
	if err := s.WriteConfig(cfgPath, sandboxListen); err != nil {
		return errors.Join(err, s.Down())
	}
	fmt.Fprintf(out, "container sandbox up in %s: %d nodes (cluster %s, image %s, network %s), GTID replication from db1\n",
		s.Dir, len(s.Nodes), s.Cluster, s.Image, s.Network)
	fmt.Fprintf(out, "config:  %s (docker discovery: label %s=%s)\n", cfgPath, docker.LabelCluster, s.Cluster)
	printProxy(out, cfgPath)
	fmt.Fprintln(out, "nodes (direct):")
	for _, n := range s.Nodes {
		role := "replica"
		if n.Name == "db1" {
			role = "primary"
		}
		fmt.Fprintf(out, "  %-4s %-7s %s   %s\n", n.Name, role, n.Addr, mariadbCommand(n.Addr, sandbox.AppUser, sandbox.AppPassword))
	}
	fmt.Fprintf(out, "stop:    switchyard sandbox down --dir %s\n", s.Dir)
	return nil
}

// ensureLocalImage builds the default MariaDB image from the host's mariadbd
// when the engine does not have it yet.
func ensureLocalImage(ctx context.Context, image string, out io.Writer) error {
	cli, err := docker.NewClient("")
	if err != nil {
		return err
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(ctx, image); err == nil {
		return nil
	} else if !errdefs.IsNotFound(err) {
		return fmt.Errorf("docker: inspect image %s: %w", image, err)
	}
	fmt.Fprintf(out, "building image %s from this host's mariadbd (once; about 20 s)...\n", image)
	_, err = docker.EnsureImage(ctx, cli, image)
	return err
}

// dockerKillStart is sandbox kill|start for a container sandbox.
func dockerKillStart(dir, verb, node string, out io.Writer) error {
	s, err := docker.OpenSandbox(dir)
	if err != nil {
		return err
	}
	n := s.Node(node)
	if n == nil {
		return fmt.Errorf("docker sandbox: no node %q", node)
	}
	done := "killed"
	if verb == "kill" {
		err = s.Kill(node)
	} else {
		err, done = s.Start(node), "started"
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s %s (%s)\n", done, node, n.Addr)
	return nil
}
