package docker

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// stopTimeout is how long a fenced server may shut down cleanly before the
// engine kills it.
const stopTimeout = 10 // seconds

// Fencer stops, kills or pauses the container of a failed primary so a
// healed partition cannot bring back a second writer. Its Fence method has
// the signature of failover.Fencer.
type Fencer struct {
	d      *Discovery
	action string
}

// Fencer returns a fencer with action stop, kill, pause or none; "" means
// docker.fence from the configuration (default stop).
func (d *Discovery) Fencer(action string) *Fencer {
	if action == "" {
		action = d.cfg.Fence
	}
	return &Fencer{d: d, action: action}
}

// Fence applies the action to the container of server and describes what
// happened, e.g. "docker stop db1 (container 1a2b3c4d5e6f): ok". A container
// that is already stopped counts as fenced.
func (f *Fencer) Fence(ctx context.Context, server string) (string, error) {
	if f.action == "none" {
		return "docker fencing disabled (docker.fence: none)", nil
	}
	c, err := f.d.container(ctx, server)
	if err != nil {
		err = fmt.Errorf("docker %s %s: %w", f.action, server, err)
		return err.Error(), err
	}
	what := fmt.Sprintf("docker %s %s (container %s)", f.action, server, shortID(c.ID))
	switch {
	case c.State != container.StateRunning && c.State != container.StatePaused:
		return what + ": already " + string(c.State), nil
	case c.State == container.StatePaused && f.action == "pause":
		return what + ": already paused", nil
	}
	switch f.action {
	case "stop":
		t := stopTimeout
		err = f.d.cli.ContainerStop(ctx, c.ID, container.StopOptions{Timeout: &t})
	case "kill":
		err = f.d.cli.ContainerKill(ctx, c.ID, "KILL")
	case "pause":
		err = f.d.cli.ContainerPause(ctx, c.ID)
	default:
		err = fmt.Errorf("unknown fence action %q (stop, kill, pause or none)", f.action)
	}
	if err != nil {
		err = fmt.Errorf("%s: %w", what, err)
		return err.Error(), err
	}
	f.d.log.Info("fenced container", "server", server, "container", shortID(c.ID), "action", f.action)
	return what + ": ok", nil
}

// container finds the labelled container, in any state, that serves as
// server: by its switchyard.name label, else by its container name.
func (d *Discovery) container(ctx context.Context, server string) (container.Summary, error) {
	list, err := d.cli.ContainerList(ctx, container.ListOptions{
		All: true, Filters: filters.NewArgs(filters.Arg("label", d.cfg.Label)),
	})
	if err != nil {
		return container.Summary{}, fmt.Errorf("list containers with label %s: %w", d.cfg.Label, err)
	}
	var found []container.Summary
	for _, c := range list {
		if serverName(c) == server {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 0:
		return container.Summary{}, fmt.Errorf("no container with label %s is server %s", d.cfg.Label, server)
	case 1:
		return found[0], nil
	}
	return container.Summary{}, fmt.Errorf("%d containers with label %s claim to be server %s", len(found), d.cfg.Label, server)
}
