// Package experiments holds the lab's experiments: each puts the stack in
// the state a claim of the guide needs, drives load at it with loadgen,
// restores it and writes a report with the numbers, charts and a verdict.
// One file per experiment; All lists them in the order `make experiments`
// runs them.
package experiments

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"scalelab/loadtest/internal/loadgen"
	"scalelab/loadtest/internal/report"
	"scalelab/loadtest/internal/stack"
)

// Experiment is one claim tested.
type Experiment struct {
	Name, Title, Claim string
	Run                func(ctx context.Context, e *Env, r *report.Report) error
}

// All lists the experiments in the order they run.
var All = []*Experiment{stateless, l4VsL7, cache, cdn, failures, scaleOut, sharding}

// Lookup returns the named experiment.
func Lookup(name string) (*Experiment, error) {
	var names []string
	for _, x := range All {
		if x.Name == name {
			return x, nil
		}
		names = append(names, x.Name)
	}
	return nil, fmt.Errorf("NAME=%q: no such experiment; one of %v", name, names)
}

// Env is what an experiment runs against.
type Env struct {
	Stack *stack.Stack
	Short bool      // CI mode: each experiment under a minute of load
	Out   io.Writer // progress lines
	outMu sync.Mutex
}

// D picks the full or the short duration.
func (e *Env) D(full, short time.Duration) time.Duration {
	if e.Short {
		return short
	}
	return full
}

// N picks the full or the short count.
func (e *Env) N(full, short int) int {
	if e.Short {
		return short
	}
	return full
}

// Logf prints a progress line.
func (e *Env) Logf(format string, args ...any) {
	e.outMu.Lock()
	defer e.outMu.Unlock()
	fmt.Fprintf(e.Out, "  "+format+"\n", args...)
}

// Load runs loadgen, keeps its raw report under label and prints its
// summary line.
func (e *Env) Load(ctx context.Context, r *report.Report, label string, cfg loadgen.Config) (*loadgen.Report, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.N == 0 {
		cfg.N = loadgen.MaxRequests
	}
	if cfg.Header == nil {
		cfg.Header = map[string][]string{}
	}
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	r.Run(label, rep)
	e.Logf("%-28s %6d req %7.0f/s  p50 %6.2fms  p99 %7.2fms  errors %d",
		label, rep.Requests, rep.Throughput, rep.LatencyMillis.P50, rep.LatencyMillis.P99, rep.Errors)
	return rep, nil
}

// scenario returns a closed-loop config of a built-in scenario.
func scenario(name string, targets ...string) loadgen.Config {
	cfg := loadgen.DefaultConfig()
	cfg.Scenario = loadgen.Scenarios[name]
	cfg.Targets = targets
	cfg.ProgressEvery = 0
	return cfg
}

// ms prints milliseconds.
func ms(v float64) string { return report.FormatValue(v) + " ms" }

// pct prints a share as a percentage.
func pct(part, whole int) string {
	if whole == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(whole))
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// series extracts x (seconds) and y from a run's per-second series.
func series(rep *loadgen.Report, y func(s loadgen.Second) float64) (xs, ys []float64) {
	for _, s := range rep.Series {
		xs = append(xs, float64(s.T))
		ys = append(ys, y(s))
	}
	return xs, ys
}
