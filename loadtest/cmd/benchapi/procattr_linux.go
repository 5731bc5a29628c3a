package main

import "syscall"

// childProcAttr puts each replica in its own process group, so a Ctrl-C in
// the terminal reaches only benchapi, which then stops the replicas in
// order; and asks the kernel to kill a replica if benchapi itself dies
// (SIGKILL, a crash), so no api process outlives the run. (Pdeathsig is
// tied to the thread that started the child; the Go runtime almost never
// ends threads, so this is a good best effort, not a guarantee.)
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
