package main

import "syscall"

// childProcAttr puts each child process in its own process group, so a Ctrl-C in
// the terminal reaches only benchedge, which then stops the processes in
// order; and asks the kernel to kill a child if benchedge itself dies
// (SIGKILL, a crash), so no child outlives the run. (Pdeathsig is
// tied to the thread that started the child; the Go runtime almost never
// ends threads, so this is a good best effort, not a guarantee.)
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
