package proc

import "syscall"

// childProcAttr puts each child in its own process group, so a Ctrl-C in
// the terminal reaches only the benchmark, which then stops the children in
// order; and asks the kernel to kill a child if the benchmark itself dies
// (SIGKILL, a crash), so no child outlives the run. (Pdeathsig is tied to
// the thread that started the child; the Go runtime almost never ends
// threads, so this is a good best effort, not a guarantee.)
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
