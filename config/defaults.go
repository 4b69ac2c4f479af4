package config

import (
	"time"

	"gopkg.in/yaml.v3"
)

// Default returns a Config holding every default documented in config.go and
// configs/reference.yaml. Parse decodes the file on top of it, so a key that
// is absent keeps its default and booleans that default to true need no
// pointer to tell "absent" from "false".
func Default() *Config {
	return &Config{
		Listen: Listen{App: "127.0.0.1:6033", Admin: "127.0.0.1:6032", Metrics: "127.0.0.1:9104"},
		Routing: Routing{
			MaxReplicaLag:  Duration(time.Second),
			ReadYourWrites: "session",
			RYWWait:        Duration(50 * time.Millisecond),
			Fallback:       "primary",
		},
		Health: Health{
			Interval:          Duration(250 * time.Millisecond),
			Timeout:           Duration(200 * time.Millisecond),
			Heartbeat:         true,
			HeartbeatInterval: Duration(100 * time.Millisecond),
			HeartbeatTable:    "switchyard.heartbeat",
		},
		Failover: Failover{
			Enabled:            true,
			DetectionThreshold: 3,
			MaxHold:            Duration(10 * time.Second),
			AntiFlap:           Duration(5 * time.Minute),
			CatchupTimeout:     Duration(5 * time.Second),
			SwitchoverTimeout:  Duration(5 * time.Second),
			Rejoin:             true,
			Fencing:            Fencing{ReadOnly: true, KillConnections: true},
			Hooks:              Hooks{Timeout: Duration(10 * time.Second)},
		},
		TLS: TLS{Client: ClientTLS{Enabled: true}},
		Limits: Limits{
			MaxClientConnections: 10000,
			HandshakeTimeout:     Duration(5 * time.Second),
			IdleTimeout:          Duration(8 * time.Hour),
			WriteTimeout:         Duration(60 * time.Second),
			MaxPacketSize:        1 << 30,
			ShutdownTimeout:      Duration(10 * time.Second),
		},
		Pool: Pool{
			MinIdle:            4,
			MaxPerServer:       200,
			WaitTimeout:        Duration(5 * time.Second),
			MaxIdleTime:        Duration(60 * time.Second),
			MaxPreparedPerConn: 256,
		},
		Docker: Docker{Port: 3306, Fence: "stop"},
		Log:    Log{Level: "info", Format: "text"},
	}
}

// UnmarshalYAML gives list items their defaults: absent keys in a list item
// cannot fall back to Default(), and weight 0 means "never read from".
func (s *Server) UnmarshalYAML(n *yaml.Node) error {
	type plain Server // without this method, so Decode does not recurse
	p := plain{Promotion: "neutral", Weight: 100}
	if err := n.Decode(&p); err != nil {
		return err
	}
	*s = Server(p)
	return nil
}

// UnmarshalYAML defaults default_route to auto.
func (u *User) UnmarshalYAML(n *yaml.Node) error {
	type plain User
	p := plain{DefaultRoute: "auto"}
	if err := n.Decode(&p); err != nil {
		return err
	}
	*u = User(p)
	return nil
}
