package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"scalelab/loadtest/internal/loadgen"
	"scalelab/loadtest/internal/stats"
)

// result is one side of a comparison: the same numbers whether the requests
// went through the api (measured by loadgen) or straight to Redis or
// PostgreSQL (measured by closedLoop).
type result struct {
	label    string
	n        int // operations that completed, failures included
	errors   int
	elapsed  time.Duration
	p50, p99 time.Duration
}

func (r result) rps() float64 { return float64(r.n) / r.elapsed.Seconds() }

// fromReport converts a loadgen report (milliseconds as float64).
func fromReport(label string, rep *loadgen.Report) result {
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	return result{
		label:   label,
		n:       rep.Requests,
		errors:  rep.Errors,
		elapsed: time.Duration(rep.ElapsedSec * float64(time.Second)),
		p50:     ms(rep.LatencyMillis.P50),
		p99:     ms(rep.LatencyMillis.P99),
	}
}

// closedLoop calls op n times from c workers, each starting its next call
// as soon as the previous one returns, exactly as loadgen.Run does for HTTP,
// so both sides of a comparison are driven the same way. op gets the call's
// number (0..n-1). A failed call counts as an error and its latency is not
// kept: a fast failure would flatter the percentiles. The run stops
// after phaseCap at the latest, like loadgen's.
func closedLoop(ctx context.Context, label string, n, c int, op func(ctx context.Context, i int) error) result {
	ctx, cancel := context.WithTimeout(ctx, phaseCap)
	defer cancel()
	var next atomic.Int64
	lat := make([][]time.Duration, c) // one slice per worker: no lock while measuring
	errs := make([]int, c)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				t0 := time.Now()
				if err := op(ctx, int(i)); err != nil {
					errs[w]++
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	var all []time.Duration
	r := result{label: label, elapsed: elapsed}
	for w := range c {
		all = append(all, lat[w]...)
		r.errors += errs[w]
	}
	r.n = len(all) + r.errors
	s := stats.Summarize(all)
	r.p50, r.p99 = s.P50, s.P99
	return r
}

// headerCount is how many responses of a loadgen run carried header=value.
func headerCount(rep *loadgen.Report, header, value string) int {
	for _, c := range rep.Headers[header].Top {
		if c.Value == value {
			return c.Count
		}
	}
	return 0
}
