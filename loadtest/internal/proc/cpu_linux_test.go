package proc

import (
	"syscall"
	"testing"
	"time"
)

// GroupCPU finds this test's own process group and a CPU time that grows
// as it works.
func TestGroupCPU(t *testing.T) {
	pgid := syscall.Getpgrp()
	before, err := GroupCPU(pgid)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		x := 0
		for i := range 10_000_000 {
			x += i
		}
		_ = x
		after, err := GroupCPU(pgid)
		if err != nil {
			t.Fatal(err)
		}
		if after > before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time of group %d stayed at %v while busy", pgid, before)
		}
	}
}
