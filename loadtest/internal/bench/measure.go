package bench

import (
	"context"
	"slices"
	"time"

	"scalelab/loadtest/internal/loadgen"
	"scalelab/loadtest/internal/proc"
)

// Measurement is one closed-loop run of the load generator against one
// target.
type Measurement struct {
	Requests, Errors int
	Elapsed          time.Duration
	P50, P99         time.Duration
	// Counted is how much the command's own counter rose meanwhile: the
	// connections the backends accepted (benchlb), the requests that
	// reached the origin (benchedge).
	Counted int64
	// CPU is the CPU time of the target's process group meanwhile; -1 if
	// unknown or when there is no process to charge (a direct target).
	CPU time.Duration
}

// Target is what Measure loads: one URL, the process group that serves it
// (0: none of ours), and the counter read before and after (nil: none).
type Target struct {
	URL     string
	PGID    int
	Counter func(ctx context.Context) (int64, error)
}

// Measure runs the load generator against t for d with c keep-alive
// connections, and reads t's counter and CPU time around it.
func Measure(ctx context.Context, t Target, c int, d time.Duration) (Measurement, error) {
	count := t.Counter
	if count == nil {
		count = func(context.Context) (int64, error) { return 0, nil }
	}
	before, err := count(ctx)
	if err != nil {
		return Measurement{}, err
	}
	var cpuBefore time.Duration
	cpuKnown := false
	if t.PGID != 0 {
		var err error
		cpuBefore, err = proc.GroupCPU(t.PGID)
		cpuKnown = err == nil
	}
	cfg := loadgen.DefaultConfig()
	cfg.URLs = []string{t.URL}
	cfg.N = loadgen.MaxRequests // the duration ends each run
	cfg.Concurrency = c
	cfg.Duration = d
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return Measurement{}, err
	}
	if ctx.Err() != nil {
		return Measurement{}, ctx.Err()
	}
	after, err := count(ctx)
	if err != nil {
		return Measurement{}, err
	}
	cpu := time.Duration(-1)
	if cpuKnown {
		if cpuAfter, err := proc.GroupCPU(t.PGID); err == nil {
			cpu = cpuAfter - cpuBefore
		}
	}
	msd := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	return Measurement{
		Requests: rep.Requests,
		Errors:   rep.Errors,
		Elapsed:  time.Duration(rep.ElapsedSec * float64(time.Second)),
		P50:      msd(rep.LatencyMillis.P50),
		P99:      msd(rep.LatencyMillis.P99),
		Counted:  after - before,
		CPU:      cpu,
	}, nil
}

// Interleave measures jobs 0..jobs-1: o.Warmup of unmeasured load each,
// then o.Rounds rounds of o.Duration each, the order rotated each round, so
// that a slow minute on a shared machine lands on all of them rather than
// on one. announce is called before the warm-up (round 0, only if there is
// one) and before each round (1..o.Rounds). It returns each job's
// measurements, in round order.
func Interleave(ctx context.Context, o Options, jobs int, announce func(round int),
	measure func(ctx context.Context, job int, d time.Duration) (Measurement, error)) ([][]Measurement, error) {
	if o.Warmup > 0 {
		announce(0)
		for j := range jobs {
			if _, err := measure(ctx, j, o.Warmup); err != nil {
				return nil, err
			}
		}
	}
	out := make([][]Measurement, jobs)
	for r := range o.Rounds {
		announce(r + 1)
		for i := range jobs {
			j := (i + r) % jobs
			m, err := measure(ctx, j, o.Duration)
			if err != nil {
				return nil, err
			}
			out[j] = append(out[j], m)
		}
	}
	return out, nil
}

// Summary is one target's rounds, pooled.
type Summary struct {
	Name             string
	Requests, Errors int
	RPS              float64 // every request over every second measured
	P50, P99         time.Duration
	Counted          int64         // the counter's rise over all rounds
	CPUPerReq        time.Duration // the target's CPU time per request; -1 if unknown
	RoundRPS         []float64     // req/s of each round, in order
}

// Summarize pools the rounds: req/s is every request over every second
// measured; p50 and p99 are the medians of the rounds' own percentiles
// (percentiles do not add up); CPU per request only when every round knew
// its CPU time.
func Summarize(name string, ms []Measurement) Summary {
	s := Summary{Name: name, CPUPerReq: -1}
	var elapsed, cpu time.Duration
	cpuKnown := len(ms) > 0
	var p50s, p99s []time.Duration
	for _, m := range ms {
		s.Requests += m.Requests
		s.Errors += m.Errors
		elapsed += m.Elapsed
		s.Counted += m.Counted
		cpu += m.CPU
		cpuKnown = cpuKnown && m.CPU >= 0
		p50s = append(p50s, m.P50)
		p99s = append(p99s, m.P99)
		if m.Elapsed > 0 {
			s.RoundRPS = append(s.RoundRPS, float64(m.Requests)/m.Elapsed.Seconds())
		}
	}
	if elapsed > 0 {
		s.RPS = float64(s.Requests) / elapsed.Seconds()
	}
	if s.Requests > 0 && cpuKnown {
		s.CPUPerReq = cpu / time.Duration(s.Requests)
	}
	s.P50, s.P99 = median(p50s), median(p99s)
	return s
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
