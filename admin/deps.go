package admin

import (
	"context"
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/digest"
	"github.com/switchyard/switchyard/topology"
)

// Deps is what the admin port reads and controls. Config and View are
// required. Proxy and Failover are small interfaces so the admin port does
// not depend on how they are built; either may be nil (their commands then
// answer with an error), as may Reload and Digests.
type Deps struct {
	Config   func() *config.Config // the running configuration
	Reload   func() error          // RELOAD CONFIG: re-read the config file; the error is shown unchanged
	View     *topology.View
	Proxy    ProxyInfo
	Failover FailoverControl
	Digests  *digest.Store
	Logger   *slog.Logger
	Version  string // shown by SHOW STATUS and SELECT @@version
	// TLS is offered to admin clients (nil: plain text only); with
	// tls.client.required a client that did not use it is refused.
	TLS *tls.Config
}

// ProxyInfo is the application side of the proxy as the operator sees it.
type ProxyInfo interface {
	Clients() []Client
	KillClient(id uint64) bool // closes that client's connection; false if unknown
	Pools() []Pool
	Stats() Stats
}

// Client is one application client connection.
type Client struct {
	ID          uint64
	User        string
	Addr        string // client host:port
	DB          string // current default database
	State       string // idle | query | pinned | held
	Server      string // backend the session is pinned to, "" when not pinned
	ConnectedAt time.Time
	Queries     uint64
	TLS         bool
}

// Pool is the backend connection pool for one (server, user).
type Pool struct {
	Server   string
	User     string
	Idle     int
	InUse    int
	Max      int
	Waiting  int    // borrowers waiting for a connection now
	Waits    uint64 // borrows that had to wait, total
	Timeouts uint64 // borrows that gave up after pool.wait_timeout, total
	Connects uint64 // backend connections opened, total
	Errors   uint64 // failed connects, total
	Queries  uint64 // statements run through this pool, total
}

// Stats are the proxy's counters.
type Stats struct {
	Accepting        bool   // the application listener accepts clients
	ClientsConnected int    // open client connections now
	ClientsTotal     uint64 // accepted since start
	ClientsRefused   uint64 // refused (limits, TLS required, shutting down)
	AuthFailures     uint64
	Statements       uint64
	HeldWrites       int    // writes waiting on the write gate now
	HoldTimeouts     uint64 // held writes that gave up after failover.max_hold
}

// FailoverControl is the failover manager as the operator drives it.
type FailoverControl interface {
	Switchover(ctx context.Context, target string) (Event, error) // target "" = best candidate
	Failover(ctx context.Context, target string) (Event, error)
	Events() []Event // newest last
	State() string   // healthy, primary suspect, failover in progress, ...
}

// Event is one failover or switchover, mirroring failover.Event.
type Event struct {
	ID         int
	Kind       string // failover | switchover
	Trigger    string // auto | manual
	OldPrimary string
	NewPrimary string
	Result     string // success | failed | aborted | refused; "" while running
	Reason     string
	Phases     []Phase // in order
	Fence      string  // what fencing did to the old primary
}

// Phase is one step of an event.
type Phase struct {
	Name string // suspected, confirmed, candidate_chosen, caught_up, fenced, promoted, replicas_repointed, writes_resumed
	At   time.Time
}

// Duration is the time from the first to the last phase.
func (e *Event) Duration() time.Duration {
	if len(e.Phases) < 2 {
		return 0
	}
	return e.Phases[len(e.Phases)-1].At.Sub(e.Phases[0].At)
}
