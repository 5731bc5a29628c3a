//go:build containers

package main

import (
	"testing"
	"time"
)

// TestOneExperimentShort runs the cheapest experiment, l4-vs-l7 (it only
// sends load: no restart, nothing killed), in short mode on a real stack
// and checks its report, so that `make test` catches an experiment
// framework that no longer runs against the stack.
func TestOneExperimentShort(t *testing.T) {
	runShort(t, "l4-vs-l7", 15*time.Minute)
}
