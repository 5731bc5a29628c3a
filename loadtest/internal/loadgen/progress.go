package loadgen

import (
	"fmt"
	"strings"
	"time"
)

// startProgress shows a live one-line summary while the run goes on: on a
// terminal a bar redrawn in place four times a second, elsewhere (a CI log,
// a pipe) a plain line every ProgressEvery. It returns a function that stops
// it and ends the line.
func startProgress(cfg *Config, rec *recorder) (stop func()) {
	if cfg.Progress == nil {
		return func() {}
	}
	every := cfg.ProgressEvery
	if cfg.ProgressTTY {
		every = 250 * time.Millisecond
	}
	if every <= 0 {
		every = 5 * time.Second
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				// The last line stays, in both modes: the run's end state.
				if cfg.ProgressTTY {
					fmt.Fprintf(cfg.Progress, "\r%s\x1b[K\n", progressLine(cfg, rec))
				} else {
					fmt.Fprintln(cfg.Progress, progressLine(cfg, rec))
				}
				return
			case <-tick.C:
				if cfg.ProgressTTY {
					fmt.Fprintf(cfg.Progress, "\r%s\x1b[K", progressLine(cfg, rec))
				} else {
					fmt.Fprintln(cfg.Progress, progressLine(cfg, rec))
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// progressLine is e.g.
//
//	[########------------]  42%  12.6s/30s  5234 req  415/s  p50 1.2ms  p99 8.4ms  err 0
//
// with the rate and percentiles of the last complete second.
func progressLine(cfg *Config, rec *recorder) string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	elapsed := time.Since(rec.start)
	frac := min(1, elapsed.Seconds()/cfg.Duration.Seconds())
	if cfg.N < MaxRequests {
		frac = max(frac, min(1, float64(rec.total.requests)/float64(cfg.N)))
	}
	const width = 20
	bar := strings.Repeat("#", int(frac*width)) + strings.Repeat("-", width-int(frac*width))
	last := "-"
	if n := len(rec.series); n >= 2 {
		s := rec.series[n-2]
		last = fmt.Sprintf("%d/s  p50 %s  p99 %s", s.requests,
			fmtMicros(s.hist.ValueAtQuantile(50)), fmtMicros(s.hist.ValueAtQuantile(99)))
	}
	return fmt.Sprintf("[%s] %3.0f%%  %.1fs/%v  %d req  %s  err %d",
		bar, frac*100, elapsed.Seconds(), cfg.Duration, rec.total.requests, last, rec.total.errors())
}

func fmtMicros(us int64) string {
	return fmt.Sprintf("%.1fms", float64(us)/1000)
}
