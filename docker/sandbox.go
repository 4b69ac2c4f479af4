package docker

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/sandbox"
)

// Sandbox root password. The sandbox is a development topology; the proxy
// never uses root (it uses the sandbox's app, monitor and replication users).
const (
	RootPassword = "root"
	sandboxState = "docker-sandbox.json"
	bootTimeout  = 120 * time.Second
)

// SandboxOptions configure SandboxUp.
type SandboxOptions struct {
	Dir        string // holds the state and switchyard.yaml; created; must not hold a sandbox
	Image      string // default DefaultImage, built from the host's mariadbd when missing
	Network    string // bridge network for the nodes; default the cluster name; created unless it exists
	Cluster    string // switchyard.cluster label and container name prefix; default "switchyard"
	Replicas   int    // default 2
	Endpoint   string // Docker engine; default $DOCKER_HOST or the local socket
	Datacenter string // switchyard.datacenter label; default dc1
}

// SandboxNode is one MariaDB container.
type SandboxNode struct {
	Name        string `json:"name"`
	ContainerID string `json:"container_id"`
	Volume      string `json:"volume"`
	ServerID    uint32 `json:"server_id"`
	IP          string `json:"ip"` // on Network; fixed when the sandbox created the network
	Addr        string `json:"addr"`
}

// Sandbox is a replication topology of labelled containers: db1 primary and
// db2.. replicas with GTID replication, as in package sandbox. Everything it
// creates is recorded in Dir, so Down removes exactly that.
type Sandbox struct {
	Dir            string         `json:"dir"`
	Cluster        string         `json:"cluster"`
	Image          string         `json:"image"`
	Network        string         `json:"network"`
	NetworkID      string         `json:"network_id"`
	NetworkCreated bool           `json:"network_created"`
	Endpoint       string         `json:"endpoint"`
	Datacenter     string         `json:"datacenter"`
	Nodes          []*SandboxNode `json:"nodes"`

	mu  sync.Mutex
	cli *client.Client
}

// SandboxUp creates the network, volumes and containers, sets up users and
// replication, writes Dir/switchyard.yaml (Docker discovery enabled) and
// returns once every replica replicates. On failure it removes what it made.
func SandboxUp(ctx context.Context, o SandboxOptions) (*Sandbox, error) {
	if o.Dir == "" {
		return nil, errors.New("docker sandbox: Dir is required")
	}
	if HasSandbox(o.Dir) {
		return nil, fmt.Errorf("docker sandbox: %s already holds a sandbox (run sandbox down --docker first)", o.Dir)
	}
	s := &Sandbox{Dir: o.Dir, Cluster: o.Cluster, Image: o.Image, Network: o.Network, Endpoint: o.Endpoint, Datacenter: o.Datacenter}
	if s.Cluster == "" {
		s.Cluster = "switchyard"
	}
	if s.Image == "" {
		s.Image = DefaultImage
	}
	if s.Network == "" {
		s.Network = s.Cluster
	}
	if s.Datacenter == "" {
		s.Datacenter = "dc1"
	}
	replicas := o.Replicas
	if replicas <= 0 {
		replicas = 2
	}
	var err error
	if s.cli, err = NewClient(s.Endpoint); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("docker sandbox: %w", err)
	}
	if err := s.create(ctx, replicas); err != nil {
		err = fmt.Errorf("docker sandbox %s: %w", s.Cluster, err)
		if derr := s.Down(); derr != nil {
			err = errors.Join(err, derr)
		}
		return nil, err
	}
	return s, nil
}

func (s *Sandbox) create(ctx context.Context, replicas int) error {
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	existing, err := s.cli.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", LabelCluster+"="+s.Cluster))})
	if err != nil {
		return err
	}
	if len(existing) > 0 {
		return fmt.Errorf("%d containers already carry label %s=%s; choose another cluster name", len(existing), LabelCluster, s.Cluster)
	}
	if err := s.ensureImage(ctx); err != nil {
		return err
	}
	subnet, err := s.ensureNetwork(ctx)
	if err != nil {
		return err
	}
	for i := 0; i <= replicas; i++ {
		n := &SandboxNode{Name: "db" + strconv.Itoa(i+1), ServerID: uint32(i + 1)}
		if subnet != nil {
			ip := subnet.IP.To4()
			n.IP = net.IPv4(ip[0], ip[1], ip[2], byte(10+i)).String()
		}
		s.Nodes = append(s.Nodes, n)
		if err := s.createNode(ctx, n); err != nil {
			return err
		}
	}
	if err := s.eachNode(func(n *SandboxNode) error { return s.startNode(ctx, n) }); err != nil {
		return err
	}
	if err := s.eachNode(func(n *SandboxNode) error { return s.setupNode(ctx, n) }); err != nil {
		return err
	}
	return s.WriteConfig(filepath.Join(s.Dir, "switchyard.yaml"), config.Default().Listen)
}

// ensureImage builds the default image when it is missing; other images
// must exist (nothing can be pulled in the environments this targets).
func (s *Sandbox) ensureImage(ctx context.Context) error {
	if _, err := s.cli.ImageInspect(ctx, s.Image); err == nil {
		return nil
	} else if !errdefs.IsNotFound(err) {
		return err
	}
	if s.Image != DefaultImage {
		return fmt.Errorf("image %s not found locally (build it, or use %s which is built automatically)", s.Image, DefaultImage)
	}
	_, err := EnsureImage(ctx, s.cli, s.Image)
	return err
}

// ensureNetwork uses an existing network as is, or creates a bridge network
// with its own /24, so the nodes get fixed addresses that survive restarts
// (replicas point at db1 by address, like health and failover do). It
// returns the subnet when it created the network.
func (s *Sandbox) ensureNetwork(ctx context.Context) (*net.IPNet, error) {
	if nw, err := s.cli.NetworkInspect(ctx, s.Network, network.InspectOptions{}); err == nil {
		s.NetworkID = nw.ID
		return nil, s.save()
	} else if !errdefs.IsNotFound(err) {
		return nil, err
	}
	h := fnv.New32a()
	io.WriteString(h, s.Cluster)
	start := h.Sum32()
	var lastErr error
	for i := uint32(0); i < 64; i++ {
		_, subnet, _ := net.ParseCIDR(fmt.Sprintf("10.213.%d.0/24", (start+i)%250+1))
		gw := net.IPv4(10, 213, subnet.IP[2], 1).String()
		resp, err := s.cli.NetworkCreate(ctx, s.Network, network.CreateOptions{
			Driver: "bridge",
			IPAM:   &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet.String(), Gateway: gw}}},
			Labels: map[string]string{LabelCluster: s.Cluster},
		})
		if err == nil {
			s.NetworkID, s.NetworkCreated = resp.ID, true
			return subnet, s.save()
		}
		lastErr = err
		if !strings.Contains(err.Error(), "overlap") {
			break
		}
	}
	return nil, fmt.Errorf("create network %s: %w", s.Network, lastErr)
}

// nodeArgs are the mariadbd options of package sandbox's nodes: GTID
// replication that notices a dead primary within seconds and a small footprint.
func (s *Sandbox) nodeArgs(n *SandboxNode) []string {
	args := []string{
		"--server-id=" + strconv.Itoa(int(n.ServerID)),
		"--log-bin=mariadb-bin", "--relay-log=relay-bin", "--relay-log-recovery=ON",
		"--log-slave-updates=ON", "--gtid-strict-mode=ON", "--binlog-format=ROW",
		"--slave-net-timeout=3", "--innodb-flush-log-at-trx-commit=2",
		"--performance-schema=OFF", "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M",
		"--innodb-buffer-pool-load-at-startup=OFF", "--innodb-buffer-pool-dump-at-shutdown=OFF",
		"--key-buffer-size=4M", "--aria-pagecache-buffer-size=8M", "--max-connections=500",
	}
	if n.Name != "db1" {
		args = append(args, "--read-only=ON")
	}
	return args
}

func (s *Sandbox) createNode(ctx context.Context, n *SandboxNode) error {
	labels := map[string]string{
		LabelCluster: s.Cluster, LabelName: n.Name, LabelDatacenter: s.Datacenter,
		LabelPromotion: "neutral", LabelWeight: "100", LabelPort: "3306",
	}
	vol, err := s.cli.VolumeCreate(ctx, volume.CreateOptions{Name: s.Cluster + "-" + n.Name + "-data", Labels: labels})
	if err != nil {
		return fmt.Errorf("%s: create volume: %w", n.Name, err)
	}
	n.Volume = vol.Name
	if err := s.save(); err != nil {
		return err
	}
	ep := &network.EndpointSettings{Aliases: []string{n.Name}}
	if n.IP != "" {
		ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: n.IP}
	}
	resp, err := s.cli.ContainerCreate(ctx,
		&container.Config{
			Image:    s.Image,
			Hostname: n.Name,
			Cmd:      s.nodeArgs(n),
			Env:      []string{"MARIADB_ROOT_PASSWORD=" + RootPassword},
			Labels:   labels,
		},
		&container.HostConfig{
			Binds:       []string{n.Volume + ":/var/lib/mysql"},
			NetworkMode: container.NetworkMode(s.Network),
		},
		&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{s.Network: ep}},
		nil, s.Cluster+"-"+n.Name)
	if err != nil {
		return fmt.Errorf("%s: create container: %w", n.Name, err)
	}
	n.ContainerID = resp.ID
	if err := s.save(); err != nil {
		return err
	}
	// The users come in as an init script, so they exist before the server
	// first listens: a monitor connecting early must not find a user that
	// gets its privileges only later (those apply to new connections only).
	var buf bytes.Buffer
	script := []byte(strings.Join(usersSQL(), ";\n") + ";\n")
	err = writeTar(&buf, []imageFile{{path: "/01-switchyard-users.sql", mode: 0o644, data: script}})
	if err != nil {
		return err
	}
	if err := s.cli.CopyToContainer(ctx, n.ContainerID, "/docker-entrypoint-initdb.d", &buf, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("%s: copy init script: %w", n.Name, err)
	}
	return nil
}

// startNode starts the container and waits until root can connect: the
// first start initializes the datadir, which takes a few seconds.
func (s *Sandbox) startNode(ctx context.Context, n *SandboxNode) error {
	if err := s.cli.ContainerStart(ctx, n.ContainerID, container.StartOptions{}); err != nil {
		return fmt.Errorf("%s: start container: %w", n.Name, err)
	}
	info, err := s.cli.ContainerInspect(ctx, n.ContainerID)
	if err != nil {
		return fmt.Errorf("%s: %w", n.Name, err)
	}
	if ep := info.NetworkSettings.Networks[s.Network]; ep != nil && ep.IPAddress != "" {
		s.mu.Lock()
		n.IP, n.Addr = ep.IPAddress, net.JoinHostPort(ep.IPAddress, "3306")
		s.mu.Unlock()
	} else {
		return fmt.Errorf("%s: no address on network %s", n.Name, s.Network)
	}
	if err := s.save(); err != nil {
		return err
	}
	db, err := sql.Open("mysql", s.DSN(n.Name, "root", RootPassword))
	if err != nil {
		return err
	}
	defer db.Close()
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := db.PingContext(pctx)
		cancel()
		if err == nil {
			return nil
		}
		if info, ierr := s.cli.ContainerInspect(ctx, n.ContainerID); ierr == nil && !info.State.Running {
			return fmt.Errorf("%s: container exited (code %d):\n%s", n.Name, info.State.ExitCode, s.logTail(n))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not accepting connections at %s: %v\n%s", n.Name, n.Addr, err, s.logTail(n))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logTail returns the container's last log lines for error messages.
func (s *Sandbox) logTail(n *SandboxNode) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rc, err := s.cli.ContainerLogs(ctx, n.ContainerID, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "15"})
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return stripLogHeaders(b)
}

// stripLogHeaders removes the 8-byte multiplexing headers of a non-TTY
// container's log stream.
func stripLogHeaders(b []byte) string {
	var out strings.Builder
	for len(b) >= 8 {
		size := int(b[4])<<24 | int(b[5])<<16 | int(b[6])<<8 | int(b[7])
		b = b[8:]
		if size > len(b) {
			size = len(b)
		}
		out.Write(b[:size])
		b = b[size:]
	}
	return out.String()
}

// usersSQL creates package sandbox's users on every node (as an init script),
// outside the binary log, so all nodes start identical and with no GTIDs to
// replicate.
func usersSQL() []string {
	return []string{
		"SET SESSION sql_log_bin=0",
		"CREATE DATABASE switchyard",
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", sandbox.AppUser, sandbox.AppPassword),
		fmt.Sprintf("GRANT ALL PRIVILEGES ON *.* TO '%s'@'%%'", sandbox.AppUser),
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", sandbox.MonitorUser, sandbox.MonitorPassword),
		fmt.Sprintf("GRANT PROCESS, RELOAD, REPLICA MONITOR, BINLOG MONITOR, REPLICATION SLAVE ADMIN, REPLICATION MASTER ADMIN, "+
			"READ_ONLY ADMIN, CONNECTION ADMIN ON *.* TO '%s'@'%%'", sandbox.MonitorUser),
		fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON switchyard.* TO '%s'@'%%'", sandbox.MonitorUser),
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", sandbox.ReplUser, sandbox.ReplPassword),
		fmt.Sprintf("GRANT REPLICATION SLAVE ON *.* TO '%s'@'%%'", sandbox.ReplUser),
		"SET SESSION sql_log_bin=1",
	}
}

// setupNode starts GTID replication from db1 on a replica, with the short
// heartbeat package sandbox uses.
func (s *Sandbox) setupNode(ctx context.Context, n *SandboxNode) error {
	if n.Name == "db1" {
		return nil
	}
	db, err := sql.Open("mysql", s.DSN(n.Name, "root", RootPassword))
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", n.Name, err)
	}
	defer conn.Close()
	primary := s.Node("db1")
	change := fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='%s', MASTER_PORT=3306, MASTER_USER='%s', MASTER_PASSWORD='%s', "+
		"MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=0.5", primary.IP, sandbox.ReplUser, sandbox.ReplPassword)
	if _, err := conn.ExecContext(ctx, change); err != nil {
		return fmt.Errorf("%s: CHANGE MASTER TO %s: %w", n.Name, primary.Addr, err)
	}
	if _, err := conn.ExecContext(ctx, "START SLAVE"); err != nil {
		return fmt.Errorf("%s: START SLAVE: %w", n.Name, err)
	}
	for {
		st, err := sandbox.SlaveStatus(ctx, conn)
		if err != nil {
			return fmt.Errorf("%s: SHOW SLAVE STATUS: %w", n.Name, err)
		}
		io, sqlRunning, ioErr := st["Slave_IO_Running"], st["Slave_SQL_Running"], st["Last_IO_Error"]
		if io == "Yes" && sqlRunning == "Yes" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: replication not running: IO=%q SQL=%q last IO error %q", n.Name, io, sqlRunning, ioErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// HasSandbox reports whether dir holds a container sandbox (so the CLI's
// down, kill and start can tell it from a local one).
func HasSandbox(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, sandboxState))
	return err == nil
}

// OpenSandbox loads the sandbox recorded in dir, for the CLI's down, kill
// and start in a later process.
func OpenSandbox(dir string) (*Sandbox, error) {
	b, err := os.ReadFile(filepath.Join(dir, sandboxState))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("docker sandbox: no sandbox in %s", dir)
		}
		return nil, fmt.Errorf("docker sandbox: %w", err)
	}
	s := &Sandbox{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("docker sandbox: %s: %w", filepath.Join(dir, sandboxState), err)
	}
	if s.cli, err = NewClient(s.Endpoint); err != nil {
		return nil, err
	}
	return s, nil
}

// Node returns the named node, or nil.
func (s *Sandbox) Node(name string) *SandboxNode {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// DSN is a go-sql-driver DSN for a direct connection to a node.
func (s *Sandbox) DSN(name, user, password string) string {
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net = user, password, "tcp"
	s.mu.Lock()
	if n := s.Node(name); n != nil {
		c.Addr = n.Addr
	}
	s.mu.Unlock()
	c.Timeout, c.ReadTimeout, c.WriteTimeout = 2*time.Second, 10*time.Second, 10*time.Second
	return c.FormatDSN()
}

// Kill sends SIGKILL to the node's container (docker kill) and waits until it
// has stopped. Its data survives in the volume.
func (s *Sandbox) Kill(name string) error {
	n := s.Node(name)
	if n == nil {
		return fmt.Errorf("docker sandbox: no node %q", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.cli.ContainerKill(ctx, n.ContainerID, "KILL"); err != nil {
		return fmt.Errorf("docker sandbox: kill %s: %w", name, err)
	}
	waitC, errC := s.cli.ContainerWait(ctx, n.ContainerID, container.WaitConditionNotRunning)
	select {
	case <-waitC:
		return nil
	case err := <-errC:
		return fmt.Errorf("docker sandbox: wait for %s to stop: %w", name, err)
	}
}

// Start starts a stopped node's container and waits until it accepts
// connections; a replica resumes replicating by itself.
func (s *Sandbox) Start(name string) error {
	n := s.Node(name)
	if n == nil {
		return fmt.Errorf("docker sandbox: no node %q", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	if err := s.startNode(ctx, n); err != nil {
		return fmt.Errorf("docker sandbox: %w", err)
	}
	return nil
}

// Down removes the containers, volumes and network this sandbox created (by
// their recorded IDs; nothing else), then its state and config in Dir.
func (s *Sandbox) Down() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var errs []error
	for _, n := range s.Nodes {
		if n.ContainerID != "" {
			err := s.cli.ContainerRemove(ctx, n.ContainerID, container.RemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove container %s: %w", n.Name, err))
			}
		}
		if n.Volume != "" {
			if err := s.cli.VolumeRemove(ctx, n.Volume, true); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove volume %s: %w", n.Volume, err))
			}
		}
	}
	if s.NetworkCreated && s.NetworkID != "" {
		if err := s.cli.NetworkRemove(ctx, s.NetworkID); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", s.Network, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("docker sandbox down: %w", errors.Join(errs...))
	}
	for _, f := range []string{sandboxState, "switchyard.yaml"} {
		if err := os.Remove(filepath.Join(s.Dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	_ = os.Remove(s.Dir) // only if empty: the user may keep other files there
	s.cli.Close()
	return errors.Join(errs...)
}

// Config is a ready proxy configuration: Docker discovery of this cluster
// on its network (no static servers), the sandbox users, listeners on
// 127.0.0.1:0 like package sandbox's Config.
func (s *Sandbox) Config() *config.Config {
	c := sandbox.BaseConfig(s.Datacenter)
	c.Docker = config.Docker{
		Enabled: true, Endpoint: s.Endpoint, Label: LabelCluster + "=" + s.Cluster,
		Network: s.Network, Port: 3306, Fence: "stop",
	}
	return c
}

// WriteConfig writes Config with the given listeners to path as YAML.
func (s *Sandbox) WriteConfig(path string, listen config.Listen) error {
	c := s.Config()
	c.Listen = listen
	b, err := c.Marshal()
	if err != nil {
		return fmt.Errorf("docker sandbox: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("docker sandbox: %w", err)
	}
	return nil
}

// eachNode runs f for all nodes concurrently and joins their errors.
func (s *Sandbox) eachNode(f func(*SandboxNode) error) error {
	errs := make([]error, len(s.Nodes))
	var wg sync.WaitGroup
	for i, n := range s.Nodes {
		wg.Go(func() { errs[i] = f(n) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// save records the sandbox in Dir after every created resource, so an
// interrupted SandboxUp can still be taken down.
func (s *Sandbox) save() error {
	// Held through the rename: concurrent saves share the temporary file,
	// and the last state marshalled must be the one left on disk.
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.Dir, sandboxState+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("docker sandbox: %w", err)
	}
	return os.Rename(tmp, filepath.Join(s.Dir, sandboxState))
}
