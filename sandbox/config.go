package sandbox

import (
	"fmt"
	"os"

	"github.com/switchyard/switchyard/config"
)

// Config returns a ready proxy configuration for this topology: servers
// db1..dbN in datacenter dc1, the app user, the admin user and the monitor
// and replication credentials, everything else at its default. All three
// listeners are 127.0.0.1:0 so parallel tests never collide; set Listen (or
// use WriteConfig) for fixed ports.
func (s *Sandbox) Config() *config.Config {
	c := BaseConfig("dc1")
	for _, n := range s.Nodes {
		c.Servers = append(c.Servers, config.Server{
			Name: n.Name, Address: n.Addr, Datacenter: "dc1", Promotion: "neutral", Weight: 100,
		})
	}
	return c
}

// BaseConfig is a sandbox configuration without servers: the sandbox users
// and credentials, listeners on 127.0.0.1:0, everything else at its default.
// The local and the Docker sandbox add their servers (or discovery) to it.
func BaseConfig(datacenter string) *config.Config {
	c := config.Default()
	c.Listen = config.Listen{App: "127.0.0.1:0", Admin: "127.0.0.1:0", Metrics: "127.0.0.1:0"}
	c.Datacenter = datacenter
	c.Users = []config.User{{Name: AppUser, Password: AppPassword, DefaultRoute: "auto"}}
	c.Admin.Users = []config.Credentials{{User: AdminUser, Password: AdminPassword}}
	c.Monitor = config.Credentials{User: MonitorUser, Password: MonitorPassword}
	c.Replication = config.Credentials{User: ReplUser, Password: ReplPassword}
	c.Routing.LagHysteresis = c.Routing.MaxReplicaLag / 5
	return c
}

// WriteConfig writes Config with the given listeners to path as YAML.
func (s *Sandbox) WriteConfig(path string, listen config.Listen) error {
	c := s.Config()
	c.Listen = listen
	b, err := c.Marshal()
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	header := "# Written by `switchyard sandbox up` for the sandbox in " + s.Dir + ".\n" +
		"# Every key is spelled out with its value; configs/reference.yaml explains them.\n"
	if err := os.WriteFile(path, append([]byte(header), b...), 0o600); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	return nil
}
