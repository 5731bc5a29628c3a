//go:build !linux

package main

import "syscall"

// childProcAttr: Pdeathsig is Linux-only; elsewhere the children are
// stopped by benchedge's own cleanup.
func childProcAttr() *syscall.SysProcAttr { return nil }
