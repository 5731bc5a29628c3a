package experiments

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"scalelab/loadtest/internal/loadgen"
	"scalelab/loadtest/internal/report"
)

// shardctl runs the stack's shardctl (compose profile tools, the api
// image) and returns what it printed.
// A command that could not reach a database (on a busy machine a
// connection can time out) is run again, up to three times: every shardctl
// command can run twice, and apply takes up where it stopped.
func (e *Env) shardctl(ctx context.Context, args ...string) (string, error) {
	e.Logf("shardctl %s", strings.Join(args, " "))
	for try := 1; ; try++ {
		out, err := e.Stack.Compose(ctx, nil, append([]string{"--profile", "tools", "run", "--rm", "--no-deps", "shardctl"}, args...)...)
		if err == nil || try == 3 || !strings.Contains(err.Error(), "unreachable") {
			return out, err
		}
		e.Logf("shardctl could not reach a database (try %d): running it again", try)
		if err := sleep(ctx, 5*time.Second); err != nil {
			return out, err
		}
	}
}

// userShards is where each live row is: the id → container index
// (pg-users-N) of every row of every users database, read with psql. An id
// found on two databases is counted in dup (none once a reshard has
// cleaned up).
func (e *Env) userShards(ctx context.Context) (where map[int64]int, perShard []float64, dup int, err error) {
	where = map[int64]int{}
	for i := range 4 {
		out, err := e.Stack.Compose(ctx, nil, "exec", "-T", fmt.Sprintf("pg-users-%d", i),
			"psql", "-U", "scalelab", "-d", "users", "-tAc", "SELECT id FROM users")
		if err != nil {
			return nil, nil, 0, err
		}
		n := 0
		for _, f := range strings.Fields(out) {
			id, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return nil, nil, 0, fmt.Errorf("pg-users-%d: %q is not an id", i, f)
			}
			if _, ok := where[id]; ok {
				dup++
			}
			where[id] = i
			n++
		}
		perShard = append(perShard, float64(n))
	}
	return where, perShard, dup, nil
}

// movedShare is the share of the ids present before and after whose
// database changed.
func movedShare(before, after map[int64]int) (moved, common int) {
	for id, a := range before {
		if b, ok := after[id]; ok {
			common++
			if a != b {
				moved++
			}
		}
	}
	return moved, common
}

var planLine = regexp.MustCompile(`router=(\w+) moved=([0-9.]+)`)

// planMoved parses `shardctl plan`'s last lines: the moved share per router.
func planMoved(out string) map[string]float64 {
	m := map[string]float64{}
	for _, x := range planLine.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(x[2], 64)
		m[x[1]] = v
	}
	return m
}

var pauseLine = regexp.MustCompile(`in (\S+); .*writes paused (\S+) at the cut-over`)

// reshardTimes reads how long a reshard took and how long writes paused
// from shardctl apply's last line (zero when it is not there).
func reshardTimes(out string) (took, pause time.Duration) {
	if m := pauseLine.FindStringSubmatch(out); m != nil {
		took, _ = time.ParseDuration(m[1])
		pause, _ = time.ParseDuration(m[2])
	}
	return took, pause
}

// liveReshard is one reshard 3→4 under a mixed load through the lb.
type liveReshard struct {
	router      string
	load        *loadgen.Report
	took, pause time.Duration
	moved, rows int
	dup         int
	plan        map[string]float64
	applyAt     float64 // seconds into the load when shardctl apply ended
}

// reshardUnderLoad runs `shardctl apply --to 4` while an open-loop mixed
// load (9 reads to 1 write, Zipf keys) goes through the lb, and stops the
// load a few seconds after the reshard ends.
func (e *Env) reshardUnderLoad(ctx context.Context, r *report.Report, router string) (*liveReshard, error) {
	lb := e.Stack.URL("LB_PORT")
	before, _, _, err := e.userShards(ctx)
	if err != nil {
		return nil, err
	}
	out, err := e.shardctl(ctx, "plan", "--to", "4")
	if err != nil {
		return nil, err
	}
	lr := &liveReshard{router: router, plan: planMoved(out)}
	loadCtx, stop := context.WithCancel(ctx)
	defer stop()
	cfg := scenario("mixed", lb)
	cfg.Rate, cfg.Concurrency, cfg.Duration, cfg.Zipf = 100, 256, 5*time.Minute, 1.0
	type result struct {
		rep *loadgen.Report
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		rep, err := e.Load(loadCtx, r, "live reshard 3→4 "+router, cfg)
		done <- result{rep, err}
	}()
	// A few seconds of load before the reshard, as a baseline.
	if err := sleep(ctx, 5*time.Second); err != nil {
		return nil, err
	}
	out, err = e.shardctl(ctx, "apply", "--to", "4")
	lr.applyAt = time.Since(start).Seconds()
	if err == nil {
		err = sleep(ctx, 5*time.Second)
	}
	stop()
	res := <-done
	if err != nil {
		return nil, err
	}
	if res.err != nil {
		return nil, res.err
	}
	lr.load = res.rep
	lr.took, lr.pause = reshardTimes(out)
	after, _, dup, err := e.userShards(ctx)
	if err != nil {
		return nil, err
	}
	lr.moved, lr.rows = movedShare(before, after)
	lr.dup = dup
	e.Logf("3→4 %s: %d of %d rows moved (plan %.4f), reshard %v, writes paused %v", router, lr.moved, lr.rows, lr.plan[router], lr.took, lr.pause)
	return lr, nil
}
