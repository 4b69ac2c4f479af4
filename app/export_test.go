package app

import "github.com/switchyard/switchyard/config"

// DiscoveryRegistry installs, as New does when docker.enabled, the registry
// Docker discovery feeds, and returns it so tests can play discovery.
func DiscoveryRegistry(a *App) interface {
	AddServer(config.Server)
	RemoveServer(name string)
} {
	reg := newDockerServers(a)
	a.reloadMu.Lock()
	a.dockerReg = reg
	a.reloadMu.Unlock()
	return reg
}
