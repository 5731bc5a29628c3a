package experiments

import (
	"context"
	"fmt"
	"sync"
	"time"

	"scalelab/loadtest/internal/chart"
	"scalelab/loadtest/internal/loadgen"
	"scalelab/loadtest/internal/report"
)

var failures = &Experiment{
	Name:  "failures",
	Title: "Failures in turn: a replica, a shard, Redis and the origin",
	Claim: "Each failure costs what the design says and no more: a dead replica nothing (the balancer retries elsewhere), a dead shard only its own users' requests, fast 503s rather than hangs, a dead Redis latency but no errors, a dead origin only the objects no edge holds.",
	Run:   runFailures,
}

// fault is one failure: what to break, and how to mend it.
type fault struct {
	name        string
	break_, fix func(context.Context) error
}

func runFailures(ctx context.Context, e *Env, r *report.Report) error {
	r.Headline = "redis_errors"
	lb, edge := e.Stack.URL("LB_PORT"), e.Stack.URL("EDGE_NEWYORK_PORT")
	apis, err := e.Stack.Containers(ctx, "api")
	if err != nil || len(apis) == 0 {
		return fmt.Errorf("no api container: %v", err)
	}
	victim := apis[len(apis)-1]
	compose := func(args ...string) func(context.Context) error {
		return func(ctx context.Context) error { _, err := e.Stack.Compose(ctx, nil, args...); return err }
	}
	docker := func(args ...string) func(context.Context) error {
		return func(ctx context.Context) error { _, err := e.Stack.Docker(ctx, args...); return err }
	}
	faults := []fault{
		{"api replica killed", docker("kill", victim), docker("start", victim)},
		{"shard pg-users-1 stopped", compose("stop", "-t", "0", "pg-users-1"), compose("start", "pg-users-1")},
		{"redis killed", compose("kill", "redis"), compose("start", "redis")},
		{"origin stopped", compose("stop", "-t", "0", "origin"), compose("start", "origin")},
	}
	d := e.D(96*time.Second, 48*time.Second)
	slot := d / time.Duration(2*len(faults))
	apiRate, edgeRate := e.N(150, 100), e.N(60, 40)
	r.Setup = append(r.Setup,
		fmt.Sprintf("two open-loop streams at once for at least %v: %d reads/s of `GET /users/{id}` (Zipf s=1.0 over users 1-10000) through the lb, and %d requests/s of `/logo.png?v={id}` (Zipf s=1.1 over 100000 objects: hot objects are cached, the tail is not) at edge-newyork", d, apiRate, edgeRate),
		fmt.Sprintf("every %v one thing breaks for %v, then is mended: %s", 2*slot, slot, joinSemi(faultNames(faults))),
	)
	defer e.Stack.Restore(context.WithoutCancel(ctx))

	// The streams run until the last fault has been mended and a slot of
	// recovery has passed: on a busy machine a docker command can take
	// many seconds, and a fault that came after the load ended would show
	// nothing. Each fault's window starts when it actually happened.
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var wg sync.WaitGroup
	var apiRep, edgeRep *loadgen.Report
	var apiErr, edgeErr error
	apiCfg := scenario("read", lb)
	apiCfg.Rate, apiCfg.Concurrency, apiCfg.Duration, apiCfg.Zipf = apiRate, 256, 4*d, 1.0
	edgeCfg := scenario("assets", edge)
	edgeCfg.IDs, edgeCfg.Rate, edgeCfg.Concurrency, edgeCfg.Duration, edgeCfg.Zipf = &loadgen.IDRange{Lo: 1, Hi: 100000}, edgeRate, 256, 4*d, 1.1
	t0 := time.Now()
	wg.Go(func() { apiRep, apiErr = e.Load(loadCtx, r, "api through the lb", apiCfg) })
	wg.Go(func() { edgeRep, edgeErr = e.Load(loadCtx, r, "edge-newyork", edgeCfg) })

	var marks []chart.Mark
	var mended []float64
	var faultErr error
	for i, f := range faults {
		if faultErr = sleep(ctx, time.Until(t0.Add(time.Duration(2*i+1)*slot))); faultErr != nil {
			break
		}
		// The window starts when the command began: what fails from then
		// on is the fault's doing, however long docker takes to carry it
		// out.
		at := time.Since(t0)
		if faultErr = f.break_(ctx); faultErr != nil {
			break
		}
		e.Logf("%s at %v", f.name, at.Round(100*time.Millisecond))
		marks = append(marks, chart.Mark{X: at.Seconds(), Label: f.name})
		if faultErr = sleep(ctx, slot); faultErr != nil {
			break
		}
		if faultErr = f.fix(ctx); faultErr != nil {
			break
		}
		mended = append(mended, time.Since(t0).Seconds())
		e.Logf("%s mended at %v", f.name, time.Since(t0).Round(100*time.Millisecond))
	}
	if faultErr == nil {
		faultErr = sleep(ctx, slot)
	}
	stopLoad()
	wg.Wait()
	for _, err := range []error{faultErr, apiErr, edgeErr} {
		if err != nil {
			return err
		}
	}
	return failuresReport(r, faults, marks, mended, apiRep, edgeRep)
}

func faultNames(fs []fault) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.name)
	}
	return out
}

func failuresReport(r *report.Report, faults []fault, marks []chart.Mark, mended []float64, apiRep, edgeRep *loadgen.Report) error {
	// Errors of each stream from the moment a fault happened to the
	// moment the next one did (the fault and the recovery after it).
	window := func(rep *loadgen.Report, i int) (req, errs int, p99 float64) {
		from, to := int(marks[i].X), 1<<30
		if i+1 < len(marks) {
			to = int(marks[i+1].X)
		}
		for _, s := range rep.Series {
			if s.T >= from && s.T < to {
				req, errs = req+s.Requests, errs+s.Errors
				p99 = max(p99, s.LatencyMillis.P99)
			}
		}
		return req, errs, p99
	}
	r.Section("What the clients saw, fault by fault")
	var rows [][]string
	for i, f := range faults {
		ar, ae, ap := window(apiRep, i)
		er, ee, ep := window(edgeRep, i)
		rows = append(rows, []string{f.name, fmt.Sprintf("%.0f s – %.0f s", marks[i].X, mended[i]), fmt.Sprintf("%d of %d (%s)", ae, ar, pct(ae, ar)), ms(ap), fmt.Sprintf("%d of %d (%s)", ee, er, pct(ee, er)), ms(ep)})
	}
	r.Table([]string{"fault (and the recovery after it)", "broken – mended (s into the run)", "api errors", "api worst p99 of a second", "edge errors", "edge worst p99 of a second"}, rows)
	r.Para("Each fault's window runs from the moment it happened to the moment the next one did. The mending is a `docker start`, which on a busy machine can take many seconds after the planned slot: the streams go on until the last fault has been mended and a slot has passed.")
	r.Para("Whole run: api %d requests, %d errors (%d transport, %d 5xx), p99 %s; edge %d requests, %d errors, p99 %s.",
		apiRep.Requests, apiRep.Errors, apiRep.TransportErrors, apiRep.Status["5xx"], ms(apiRep.LatencyMillis.P99),
		edgeRep.Requests, edgeRep.Errors, ms(edgeRep.LatencyMillis.P99))
	var lines []chart.Series
	for _, x := range []struct {
		name string
		rep  *loadgen.Report
	}{{"api errors/s", apiRep}, {"edge errors/s", edgeRep}} {
		xs, ys := series(x.rep, func(s loadgen.Second) float64 { return float64(s.Errors) })
		lines = append(lines, chart.Series{Name: x.name, X: xs, Y: ys})
	}
	xs, ys := series(apiRep, func(s loadgen.Second) float64 { return s.LatencyMillis.P99 / 10 })
	lines = append(lines, chart.Series{Name: "api p99 (10 ms units)", X: xs, Y: ys})
	if err := r.Chart("failures.png", "Errors per second of both streams, and the api's p99, as each fault came and went", &chart.Lines{Title: "Failures in turn: errors per second and api p99", XLabel: "seconds", YLabel: "errors/s; p99 in 10 ms", Series: lines, Marks: marks}); err != nil {
		return err
	}
	_, shardErrs, _ := window(apiRep, 1)
	_, replicaErrs, _ := window(apiRep, 0)
	_, redisErrs, _ := window(apiRep, 2)
	_, originErrs, _ := window(edgeRep, 3)
	r.Number("replica_errors", "api errors around the replica kill", float64(replicaErrs), "")
	r.Number("shard_errors", "api errors around the shard stop", float64(shardErrs), "")
	r.Number("redis_errors", "api errors around the Redis kill", float64(redisErrs), "")
	r.Number("origin_errors", "edge errors around the origin stop", float64(originErrs), "")
	shardReq, _, _ := window(apiRep, 1)
	held := replicaErrs == 0 && redisErrs == 0 && shardErrs > 0 && float64(shardErrs) < 0.5*float64(shardReq)
	r.Verdict = report.Partly
	if held {
		r.Verdict = report.Held
	}
	r.VerdictText = fmt.Sprintf("Replica killed: %d errors; Redis killed: %d errors; shard stopped: %d errors of %d requests (its third of the users, fast 503s: the claim is that only they fail); origin stopped: %d edge errors (the objects the edge did not hold).", replicaErrs, redisErrs, shardErrs, shardReq, originErrs)
	return nil
}
