//go:build !linux

package proc

import "syscall"

// childProcAttr: Pdeathsig is Linux-only; elsewhere the children are
// stopped by the benchmark's own cleanup.
func childProcAttr() *syscall.SysProcAttr { return nil }
