package experiments

import (
	"context"
	"fmt"
	"slices"
	"time"

	"scalelab/loadtest/internal/chart"
	"scalelab/loadtest/internal/report"
)

var l4VsL7 = &Experiment{
	Name:  "l4-vs-l7",
	Title: "L4 against L7 load balancing: the same backends through both listeners",
	Claim: "An L4 balancer forwards bytes of a TCP connection without parsing HTTP, so it costs less CPU per request and adds less latency than an L7 balancer, which reads every request, picks a backend per request and can retry; L7 buys routing and per-request balancing with that CPU.",
	Run:   runL4VsL7,
}

type lbRun struct {
	rps, p50, p99, cpuPerReq float64 // cpuPerReq in µs
	errors, requests         int
}

func runL4VsL7(ctx context.Context, e *Env, r *report.Report) error {
	r.Headline = "cpu_ratio"
	lbIDs, err := e.Stack.Containers(ctx, "lb")
	if err != nil || len(lbIDs) != 1 {
		return fmt.Errorf("want one running lb container (got %d): %v", len(lbIDs), err)
	}
	listeners := []listener{{"L7", e.Stack.URL("LB_PORT")}, {"L4", e.Stack.URL("LB_L4_PORT")}}
	rounds, d, c := e.N(3, 2), e.D(10*time.Second, 5*time.Second), 32
	r.Setup = append(r.Setup,
		"`GET /` (the api's smallest answer) through the lb's L7 port and its L4 port, same api replicas behind both; keep-alive connections, closed loop with 32 workers",
		fmt.Sprintf("%d rounds of %v per listener, interleaved (L7, L4, L7, L4, ...) so a burst of other work on the machine hits both", rounds, d),
		"CPU: the lb container's CPU time from its cgroup (cpuacct), read before and after each run, divided by the requests",
	)
	runs, err := l4vsl7Rounds(ctx, e, r, lbIDs[0], listeners, rounds, d, c)
	if err != nil {
		return err
	}
	return l4vsl7Report(r, listeners, runs)
}

// listener is one of the lb's ports under test.
type listener struct{ name, url string }

// l4vsl7Rounds runs the listeners in turn, rounds times, reading the lb
// container's CPU time around each run.
func l4vsl7Rounds(ctx context.Context, e *Env, r *report.Report, lbID string, listeners []listener, rounds int, d time.Duration, c int) (map[string][]lbRun, error) {
	runs := map[string][]lbRun{}
	for round := range rounds {
		for _, l := range listeners {
			before, err := e.Stack.CPU(ctx, lbID)
			if err != nil {
				return nil, err
			}
			cfg := scenario("hello", l.url)
			cfg.Concurrency, cfg.Duration = c, d
			rep, err := e.Load(ctx, r, fmt.Sprintf("%s round %d", l.name, round+1), cfg)
			if err != nil {
				return nil, err
			}
			after, err := e.Stack.CPU(ctx, lbID)
			if err != nil {
				return nil, err
			}
			runs[l.name] = append(runs[l.name], lbRun{
				rps: rep.Throughput, p50: rep.LatencyMillis.P50, p99: rep.LatencyMillis.P99,
				cpuPerReq: float64((after - before).Microseconds()) / float64(max(1, rep.Requests)),
				errors:    rep.Errors, requests: rep.Requests,
			})
		}
	}
	return runs, nil
}

// l4vsl7Report writes the medians, every round, the charts and the verdict.
func l4vsl7Report(r *report.Report, listeners []listener, runs map[string][]lbRun) error {
	med := func(name string, f func(lbRun) float64) float64 {
		var v []float64
		for _, x := range runs[name] {
			v = append(v, f(x))
		}
		return median(v)
	}
	rows := [][]string{}
	var rps, cpu, p50, p99 []float64
	for _, l := range listeners {
		errs := 0
		for _, x := range runs[l.name] {
			errs += x.errors
		}
		a, b, c2, d2 := med(l.name, func(x lbRun) float64 { return x.rps }), med(l.name, func(x lbRun) float64 { return x.cpuPerReq }),
			med(l.name, func(x lbRun) float64 { return x.p50 }), med(l.name, func(x lbRun) float64 { return x.p99 })
		rps, cpu, p50, p99 = append(rps, a), append(cpu, b), append(p50, c2), append(p99, d2)
		rows = append(rows, []string{l.name, report.FormatValue(a), report.FormatValue(b), ms(c2), ms(d2), fmt.Sprint(errs)})
	}
	r.Section("Throughput, latency and the lb's CPU per request (median of the rounds)")
	r.Table([]string{"listener", "req/s", "lb CPU µs/request", "p50", "p99", "errors"}, rows)
	var roundRows [][]string
	for _, l := range listeners {
		for i, x := range runs[l.name] {
			roundRows = append(roundRows, []string{l.name, fmt.Sprint(i + 1), report.FormatValue(x.rps), report.FormatValue(x.cpuPerReq), ms(x.p50), ms(x.p99)})
		}
	}
	r.Para("Every round:")
	r.Table([]string{"listener", "round", "req/s", "lb CPU µs/request", "p50", "p99"}, roundRows)
	cats := []string{"L7", "L4"}
	if err := r.Chart("cpu-per-request.png", "The lb's CPU time per request", &chart.Bars{Title: "lb CPU per request (µs)", YLabel: "µs", Categories: cats, Groups: []chart.Group{{Name: "CPU", Values: cpu}}}); err != nil {
		return err
	}
	if err := r.Chart("throughput.png", "Requests per second through each listener", &chart.Bars{Title: "Throughput (req/s)", YLabel: "req/s", Categories: cats, Groups: []chart.Group{{Name: "req/s", Values: rps}}}); err != nil {
		return err
	}
	if err := r.Chart("latency.png", "Latency through each listener", &chart.Bars{Title: "Latency (ms)", YLabel: "ms", Categories: cats, Groups: []chart.Group{{Name: "p50", Values: p50}, {Name: "p99", Values: p99}}}); err != nil {
		return err
	}
	cpuRatio, rpsRatio := cpu[0]/cpu[1], rps[1]/rps[0]
	r.Number("l7_cpu_us", "lb CPU per request, L7", cpu[0], "µs")
	r.Number("l4_cpu_us", "lb CPU per request, L4", cpu[1], "µs")
	r.Number("cpu_ratio", "L7 / L4 CPU per request", cpuRatio, "×")
	r.Number("rps_ratio", "L4 / L7 throughput", rpsRatio, "×")
	r.Para("With keep-alive, L4 balances *connections*: the 32 client connections are spread over the replicas once, and every request on a connection goes to the same replica; L7 picks a replica per request. Everything (load generator, lb, api replicas, Redis) shares this machine's two cores, so throughput is bounded by the api replicas as much as by the lb: the CPU per request is the fairer measure of what the lb itself costs.")
	switch {
	case cpuRatio > 1.1 && p50[1] <= p50[0]:
		r.Verdict = report.Held
		r.VerdictText = fmt.Sprintf("L4 cost the lb %.1f× less CPU per request than L7 (%.0f µs against %.0f µs), with p50 %s against %s and %.2f× the throughput.", cpuRatio, cpu[1], cpu[0], ms(p50[1]), ms(p50[0]), rpsRatio)
	case cpuRatio > 1.1:
		r.Verdict = report.Partly
		r.VerdictText = fmt.Sprintf("L4 cost %.1f× less lb CPU per request, but its p50 was not lower (%s against %s for L7) on this shared machine.", cpuRatio, ms(p50[1]), ms(p50[0]))
	default:
		r.Verdict = report.NotHeld
		r.VerdictText = fmt.Sprintf("L4 and L7 cost about the same lb CPU per request here (L7/L4 %.2f×).", cpuRatio)
	}
	return nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
