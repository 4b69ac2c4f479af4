// Package docker runs Switchyard's MariaDB topologies in Docker: it builds a
// local MariaDB image from the host's mariadbd (no registry needed), starts
// labelled container sandboxes, discovers servers from container labels while
// following Docker events, and fences a failed primary by stopping, killing
// or pausing its container.
package docker

import (
	"fmt"

	"github.com/docker/docker/client"
)

// Labels Switchyard reads from (and the sandbox writes on) containers.
const (
	LabelCluster    = "switchyard.cluster"
	LabelName       = "switchyard.name"
	LabelDatacenter = "switchyard.datacenter"
	LabelPromotion  = "switchyard.promotion"
	LabelWeight     = "switchyard.weight"
	LabelPort       = "switchyard.port"
)

// NewClient connects to the Docker engine at endpoint, or to $DOCKER_HOST
// (default: the local socket) when endpoint is empty. The API version is
// negotiated, so older engines work.
func NewClient(endpoint string) (*client.Client, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if endpoint != "" {
		opts = append(opts, client.WithHost(endpoint))
	}
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client for %q: %w", endpoint, err)
	}
	return cli, nil
}
