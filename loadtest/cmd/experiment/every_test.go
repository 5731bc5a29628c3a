//go:build experiments

package main

import (
	"testing"
	"time"
)

// TestEveryExperimentShort runs every experiment in short mode on a real
// stack and checks every report and the index: `make test-experiments`.
// It stays out of `make test` for its length (see docs/experiments.md).
func TestEveryExperimentShort(t *testing.T) {
	runShort(t, "all", 40*time.Minute)
}
