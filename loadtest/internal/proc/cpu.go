package proc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat: USER_HZ,
// which Linux fixes at 100 for user space on every architecture.
const clockTick = 10 * time.Millisecond

// GroupCPU returns the CPU time (user + system) used so far by every
// process in the process group pgid. Each balancer is started as the leader
// of its own group, so this covers nginx's workers and HAProxy's threads as
// well as the lb. Throughput on a shared machine moves with whatever else
// runs; CPU time per request is the cost of the balancer itself and moves
// much less, so the report shows both.
func GroupCPU(pgid int) (time.Duration, error) {
	entries, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(entries) == 0 {
		return 0, fmt.Errorf("no /proc here: %v", err)
	}
	var ticks int64
	for _, path := range entries {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // the process has just exited
		}
		group, t, ok := parseStat(b)
		if ok && group == pgid {
			ticks += t
		}
	}
	return time.Duration(ticks) * clockTick, nil
}

// parseStat reads the process group and utime+stime from a /proc/PID/stat
// line. The command name (field 2) is in parentheses and may itself hold
// spaces or parentheses, so fields are counted from the last ')'.
func parseStat(b []byte) (pgrp int, ticks int64, ok bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, 0, false
	}
	pg, err1 := strconv.Atoi(string(f[2]))              // field 5
	ut, err2 := strconv.ParseInt(string(f[11]), 10, 64) // field 14
	st, err3 := strconv.ParseInt(string(f[12]), 10, 64) // field 15
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, false
	}
	return pg, ut + st, true
}
