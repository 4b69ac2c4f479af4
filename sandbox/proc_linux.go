package sandbox

import "syscall"

// sysProcAttr puts mariadbd in its own process group, so a terminal's Ctrl-C
// aimed at the CLI does not reach it, and optionally ties its life to ours.
func sysProcAttr(exitWithParent bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	if exitWithParent {
		a.Pdeathsig = syscall.SIGKILL
	}
	return a
}
