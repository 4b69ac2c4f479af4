//go:build !linux

package sandbox

import (
	"os/exec"
	"syscall"
)

// sysProcAttr puts mariadbd in its own process group; only Linux can tie a
// child's life to its parent, so exitWithParent is ignored here.
func sysProcAttr(bool) *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func startProcess(cmd *exec.Cmd) error { return cmd.Start() }
