//go:build !linux

package main

import "syscall"

// childProcAttr: Pdeathsig is Linux-only; elsewhere the replicas are
// stopped by benchapi's own cleanup.
func childProcAttr() *syscall.SysProcAttr { return nil }
