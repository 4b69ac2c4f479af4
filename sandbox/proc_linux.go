package sandbox

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// sysProcAttr puts mariadbd in its own process group, so a terminal's Ctrl-C
// aimed at the CLI does not reach it, and optionally ties its life to ours.
func sysProcAttr(exitWithParent bool) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	if exitWithParent {
		a.Pdeathsig = syscall.SIGKILL
	}
	return a
}

// Linux delivers Pdeathsig when the THREAD that forked the child exits, not
// the process, and the Go runtime may retire threads. So children are forked
// from one goroutine locked to a thread that lives as long as the process.
var (
	spawnOnce sync.Once
	spawnCh   chan func()
)

func startProcess(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnCh = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: this thread must not exit
			for fn := range spawnCh {
				fn()
			}
		}()
	})
	errc := make(chan error, 1)
	spawnCh <- func() { errc <- cmd.Start() }
	return <-errc
}
