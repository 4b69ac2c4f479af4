package docker

import (
	"context"
)

// Test helpers for the external test package docker_test (e2e_test.go),
// which imports app and so cannot live in package docker.
var (
	RequireEngine     = requireEngine
	UniqueCluster     = uniqueCluster
	UpSandbox         = upSandbox
	OpenDB            = openDB
	Eventually        = eventually
	AssertNothingLeft = assertNothingLeft
	ShortID           = shortID
)

// AddNode creates, starts and sets up one more node (a replica of db1), as
// SandboxUp does for its nodes.
func (s *Sandbox) AddNode(ctx context.Context, n *SandboxNode) error {
	s.mu.Lock()
	s.Nodes = append(s.Nodes, n)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	for _, step := range []func(context.Context, *SandboxNode) error{s.createNode, s.startNode, s.setupNode} {
		if err := step(ctx, n); err != nil {
			return err
		}
	}
	return nil
}
