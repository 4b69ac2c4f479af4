// Package topology holds the cluster view shared by every part of the proxy:
// immutable snapshots, swapped atomically. Health monitors write what they
// observe, the failover manager writes decisions (roles, the primary, the write
// gate), the admin port writes operator states; routing, the proxy, admin and
// metrics read. Readers never lock.
package topology

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/switchyard/gtid"
)

// Role is what a server does in replication, as discovered and decided.
type Role uint8

const (
	RoleUnknown     Role = iota
	RolePrimary          // the writable primary routed to
	RoleReplica          // replicates from the primary
	RoleFenced           // a failed primary: never routed to again
	RoleQuarantined      // diverged history: never routed to, needs an operator
)

func (r Role) String() string {
	switch r {
	case RolePrimary:
		return "primary"
	case RoleReplica:
		return "replica"
	case RoleFenced:
		return "fenced"
	case RoleQuarantined:
		return "quarantined"
	}
	return "unknown"
}

// AdminState is what an operator set with SET SERVER.
type AdminState uint8

const (
	AdminOnline  AdminState = iota
	AdminOffline            // no new statements; running ones finish
	AdminDrain              // no new sessions/borrows; existing pinned sessions finish
)

// ParseAdminState reads "online", "offline" or "drain" (any case; "" is
// online).
func ParseAdminState(s string) (AdminState, bool) {
	switch strings.ToLower(s) {
	case "", "online":
		return AdminOnline, true
	case "offline":
		return AdminOffline, true
	case "drain":
		return AdminDrain, true
	}
	return AdminOnline, false
}

func (a AdminState) String() string {
	switch a {
	case AdminOffline:
		return "offline"
	case AdminDrain:
		return "drain"
	}
	return "online"
}

// Flavor is the server software.
type Flavor uint8

const (
	FlavorUnknown Flavor = iota
	FlavorMariaDB
	FlavorMySQL
)

func (f Flavor) String() string {
	switch f {
	case FlavorMariaDB:
		return "mariadb"
	case FlavorMySQL:
		return "mysql"
	}
	return "unknown"
}

// WaitGTIDFunc names the SQL function that waits until a GTID position has
// been applied, given the position and a timeout in seconds; both return 0
// on success and -1 (MariaDB) or 1 (MySQL) on timeout.
func (f Flavor) WaitGTIDFunc() string {
	if f == FlavorMySQL {
		return "WAIT_FOR_EXECUTED_GTID_SET"
	}
	return "MASTER_GTID_WAIT"
}

// FlavorOf tells MariaDB from MySQL by @@version and @@version_comment.
func FlavorOf(version, comment string) Flavor {
	if strings.Contains(strings.ToLower(version+" "+comment), "mariadb") {
		return FlavorMariaDB
	}
	return FlavorMySQL
}

// Server is everything known about one server at one moment.
type Server struct {
	// From configuration or discovery.
	Name       string
	Addr       string // host:port
	Datacenter string
	Promotion  string // prefer | neutral | never
	Weight     int

	// Written by health monitors.
	Reachable       bool
	CheckedAt       time.Time
	FailedChecks    int    // consecutive failed checks
	LastError       string // last check error, "" when healthy
	Flavor          Flavor
	Version         string
	ServerID        uint32
	ReadOnly        bool
	IsReplica       bool   // has a replication source configured
	SourceAddr      string // host:port it replicates from
	IOThread        bool   // replication IO thread running and connected
	SQLThread       bool
	ReplError       string   // last IO/SQL error
	LagMs           int64    // -1 = unknown or replication broken (never "0 lag")
	LagEligible     bool     // within max_replica_lag, with hysteresis applied
	GTID            gtid.Set // applied position (gtid_slave_pos/gtid_current_pos, gtid_executed)
	GTIDBinlog      gtid.Set // binlog position (gtid_binlog_pos), for errant checks
	SemiSyncSource  bool
	SemiSyncReplica bool

	// Written by failover (decisions) and admin.
	Role  Role
	Admin AdminState
}

// Readable reports whether reads may be routed here (role replica or primary,
// reachable, online).
func (s *Server) Readable() bool {
	return s.Reachable && s.Admin == AdminOnline && (s.Role == RoleReplica || s.Role == RolePrimary)
}

// WriteGate says whether writes may flow to the primary.
type WriteGate uint8

const (
	WritesOpen    WriteGate = iota // route writes to Primary
	WritesHeld                     // failover/switchover in progress: wait up to HoldUntil
	WritesBlocked                  // no safe primary (unreachable, split brain): fail with Reason
)

func (g WriteGate) String() string {
	switch g {
	case WritesHeld:
		return "held"
	case WritesBlocked:
		return "blocked"
	}
	return "open"
}

// Snapshot is an immutable view of the cluster. Never modify a snapshot
// obtained from Load; use View.Update.
type Snapshot struct {
	Version   uint64
	Servers   []Server // sorted by Name
	Primary   string   // name of the writable primary, "" when none is known
	Gate      WriteGate
	HoldUntil time.Time // with WritesHeld
	Reason    string    // why writes are held or blocked, for errors and admin
	// Epoch increases at every change of primary, so sessions can tell their
	// pinned backend belongs to a former primary.
	Epoch uint64
}

// Server returns the named server, or nil.
func (s *Snapshot) Server(name string) *Server {
	for i := range s.Servers {
		if s.Servers[i].Name == name {
			return &s.Servers[i]
		}
	}
	return nil
}

// PrimaryServer returns the current primary, or nil.
func (s *Snapshot) PrimaryServer() *Server {
	if s.Primary == "" {
		return nil
	}
	return s.Server(s.Primary)
}

// clone makes a deep-enough copy for copy-on-write updates.
func (s *Snapshot) clone() *Snapshot {
	c := *s
	c.Servers = append([]Server(nil), s.Servers...)
	return &c
}

// View holds the current snapshot and notifies waiters of changes.
type View struct {
	cur     atomic.Pointer[Snapshot]
	mu      sync.Mutex
	changed chan struct{}
}

// NewView returns a view whose first snapshot holds the given servers.
func NewView(servers []Server) *View {
	v := &View{changed: make(chan struct{})}
	s := &Snapshot{Version: 1, Servers: append([]Server(nil), servers...)}
	sortServers(s.Servers)
	v.cur.Store(s)
	return v
}

// Load returns the current snapshot. It never blocks and never allocates.
func (v *View) Load() *Snapshot { return v.cur.Load() }

// Changed returns a channel closed at the next Update.
func (v *View) Changed() <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.changed
}

// Update applies fn to a copy of the current snapshot and publishes it.
// Updates are serialised; fn must not call back into the view.
func (v *View) Update(fn func(s *Snapshot)) *Snapshot {
	v.mu.Lock()
	defer v.mu.Unlock()
	next := v.cur.Load().clone()
	fn(next)
	sortServers(next.Servers)
	next.Version++
	v.cur.Store(next)
	close(v.changed)
	v.changed = make(chan struct{})
	return next
}

// UpdateServer applies fn to the named server, if present.
func (v *View) UpdateServer(name string, fn func(s *Server)) {
	v.Update(func(s *Snapshot) {
		if srv := s.Server(name); srv != nil {
			fn(srv)
		}
	})
}

func sortServers(ss []Server) {
	// insertion sort: a handful of servers, and it keeps this package free of
	// reflection-based sorting.
	for i := 1; i < len(ss); i++ {
		for j := i; j > 0 && ss[j].Name < ss[j-1].Name; j-- {
			ss[j], ss[j-1] = ss[j-1], ss[j]
		}
	}
}
