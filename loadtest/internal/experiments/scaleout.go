package experiments

import (
	"context"
	"fmt"
	"slices"
	"time"

	"scalelab/loadtest/internal/chart"
	"scalelab/loadtest/internal/report"
)

var scaleOut = &Experiment{
	Name:  "scale-out",
	Title: "Scaling out: more api replicas behind the lb",
	Claim: "Stateless replicas scale horizontally: with more replicas behind the load balancer the stack sustains a higher arrival rate before latency climbs, until something they share (here: the machine's cores) is the limit.",
	Run:   runScaleOut,
}

func runScaleOut(ctx context.Context, e *Env, r *report.Report) error {
	r.Headline = "scale_gain"
	lb := e.Stack.URL("LB_PORT")
	replicas := []int{1, 2, 4}
	rates := []int{600, 1200, 2400, 3600, 4800, 6000, 7200, 8400}
	d := 8 * time.Second
	if e.Short {
		replicas, rates, d = []int{1, 2}, []int{1200, 3600, 6000, 8400}, 4*time.Second
	}
	r.Setup = append(r.Setup,
		fmt.Sprintf("api ×%v behind the lb (`docker compose up --scale api=N`), `GET /users/{id}` with Zipf s=1.0 keys (mostly cache hits: the api's own work, Redis and the lb)", replicas),
		fmt.Sprintf("open loop at %v requests/s, %v each, at most 512 in flight; achieved throughput is answers per second", rates, d),
		"everything (the load generator, the lb, the replicas, Redis, PostgreSQL) runs on the same 2 cores: the curve must flatten where the cores are used up, whatever the replica count",
	)
	defer e.Stack.Restore(context.WithoutCancel(ctx))
	m, err := scaleOutMeasure(ctx, e, r, lb, replicas, rates, d)
	if err != nil {
		return err
	}
	return scaleOutReport(r, replicas, m)
}

// sloP99 is the latency a sustained rate keeps its p99 under.
const sloP99 = 100 * time.Millisecond

// sustained is the highest asked rate of a curve that was answered at 95%
// or more with a p99 under sloP99 (0 when none was).
func sustained(curve []scalePoint) float64 {
	best := 0.0
	for _, pt := range curve {
		if pt.achieved >= 0.95*pt.rate && pt.p99 < float64(sloP99.Milliseconds()) {
			best = max(best, pt.rate)
		}
	}
	return best
}

// scalePoint is one run: the asked rate, the answered rate and latency.
type scalePoint struct{ rate, achieved, p50, p99 float64 }

// scaleRuns are the runs by replica count, and one replica's again.
type scaleRuns struct {
	curves map[int][]scalePoint
	again  []scalePoint // one replica measured a second time, last
	rows   [][]string
}

// scaleOutMeasure runs every rate at every replica count, then one
// replica again.
func scaleOutMeasure(ctx context.Context, e *Env, r *report.Report, lb string, replicas, rates []int, d time.Duration) (scaleRuns, error) {
	m := scaleRuns{curves: map[int][]scalePoint{}}
	// The replica counts run one after the other, so the machine may be
	// busier during one than another: one replica is measured again at
	// the end, and the gap between its two runs is the noise.
	for i, n := range append(slices.Clone(replicas), replicas[0]) {
		repeat := i == len(replicas)
		if err := e.Stack.Apply(ctx, nil, "--no-deps", "--scale", fmt.Sprintf("api=%d", n), "api"); err != nil {
			return m, err
		}
		// Let the lb's DNS refresh (2 s) and health checks see the new set.
		if err := sleep(ctx, 5*time.Second); err != nil {
			return m, err
		}
		for _, rate := range rates {
			cfg := scenario("read", lb)
			cfg.Rate, cfg.Concurrency, cfg.Duration, cfg.Zipf = rate, 512, d, 1.0
			label := fmt.Sprintf("×%d", n)
			if repeat {
				label += " again"
			}
			rep, err := e.Load(ctx, r, fmt.Sprintf("api%s at %d/s", label, rate), cfg)
			if err != nil {
				return m, err
			}
			ok := float64(rep.Requests-rep.Errors) / rep.ElapsedSec
			pt := scalePoint{float64(rate), ok, rep.LatencyMillis.P50, rep.LatencyMillis.P99}
			if repeat {
				m.again = append(m.again, pt)
			} else {
				m.curves[n] = append(m.curves[n], pt)
			}
			m.rows = append(m.rows, []string{label, fmt.Sprint(rate), report.FormatValue(ok), ms(rep.LatencyMillis.P50), ms(rep.LatencyMillis.P99), fmt.Sprint(rep.Errors)})
		}
	}
	return m, nil
}

// scaleOutReport draws the curves and weighs the gain against the noise.
func scaleOutReport(r *report.Report, replicas []int, m scaleRuns) error {
	r.Section("Throughput and latency by replica count and arrival rate")
	r.Table([]string{"replicas", "asked req/s", "answered req/s", "p50", "p99", "errors"}, m.rows)
	var tput, lat []chart.Series
	for _, n := range replicas {
		var x, y, p []float64
		for _, pt := range m.curves[n] {
			x, y, p = append(x, pt.rate), append(y, pt.achieved), append(p, pt.p99)
		}
		tput = append(tput, chart.Series{Name: fmt.Sprintf("api ×%d", n), X: x, Y: y})
		lat = append(lat, chart.Series{Name: fmt.Sprintf("api ×%d", n), X: x, Y: p})
	}
	var x, y, p []float64
	for _, pt := range m.again {
		x, y, p = append(x, pt.rate), append(y, pt.achieved), append(p, pt.p99)
	}
	name := fmt.Sprintf("api ×%d again", replicas[0])
	tput, lat = append(tput, chart.Series{Name: name, X: x, Y: y}), append(lat, chart.Series{Name: name, X: x, Y: p})
	if err := r.Chart("throughput.png", "Answered against asked requests per second", &chart.Lines{Title: "Throughput by replica count", XLabel: "asked req/s", YLabel: "answered req/s", Series: tput}); err != nil {
		return err
	}
	if err := r.Chart("p99.png", "p99 latency against the arrival rate", &chart.Lines{Title: "p99 by replica count", XLabel: "asked req/s", YLabel: "ms", Series: lat, LogY: true}); err != nil {
		return err
	}
	n := slices.Max(replicas)
	one, most, again := sustained(m.curves[replicas[0]]), sustained(m.curves[n]), sustained(m.again)
	top := m.curves[replicas[0]][len(m.curves[replicas[0]])-1].rate
	noise := max(one, again)/max(min(one, again), 1) - 1
	r.Number("max_rps_1", "highest rate 1 replica sustained", one, "req/s")
	r.Number("max_rps_1_again", "the same, measured again at the end", again, "req/s")
	r.Number("max_rps_most", fmt.Sprintf("highest rate %d replicas sustained", n), most, "req/s")
	r.Number("scale_gain", fmt.Sprintf("gain from 1 to %d replicas", n), most/max(one, 1), "×")
	r.Number("noise_pct", "gap between the two runs of 1 replica", 100*noise, "%")
	r.Para("A rate is *sustained* when at least 95%% of it was answered with a p99 under %v: past it requests queue, and the curve flattens or p99 leaves the milliseconds. On two shared cores the replicas compete with the lb, Redis and the load generator for the same CPU, so adding replicas moves the knee only while a single replica is not already using what the cores have left.", sloP99)
	switch g := most / max(one, 1); {
	case one >= top && again >= top:
		r.Verdict, r.VerdictText = report.NotHeld, fmt.Sprintf("Inconclusive: one replica sustained every rate asked, up to %.0f req/s, so this run never found its limit to compare with %d replicas' (p99 at the top rate: see the table).", top, n)
	case g >= 1.3 && g-1 > noise:
		r.Verdict, r.VerdictText = report.Held, fmt.Sprintf("%d replicas sustained %.0f req/s against %.0f for one (%.2f×, more than the %.0f%% between two runs of one replica).", n, most, one, g, 100*noise)
	case g >= 1.3:
		r.Verdict, r.VerdictText = report.NotHeld, fmt.Sprintf("%d replicas sustained %.0f req/s against %.0f for one (%.2f×), but two runs of one replica differed by %.0f%%: the gain is within this machine's noise, so this run shows nothing either way.", n, most, one, g, 100*noise)
	default:
		r.Verdict, r.VerdictText = report.NotHeld, fmt.Sprintf("On this machine more replicas did not add capacity: %d sustained %.0f req/s against %.0f for one (%.2f×; two runs of one replica differed by %.0f%%). The two cores were the limit before a single replica was: the claim needs more cores than this lab had free, which is the point of scaling out.", n, most, one, g, 100*noise)
	}
	return nil
}
