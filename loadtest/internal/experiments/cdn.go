package experiments

import (
	"context"
	"fmt"
	"time"

	"scalelab/loadtest/internal/chart"
	"scalelab/loadtest/internal/loadgen"
	"scalelab/loadtest/internal/report"
)

var cdn = &Experiment{
	Name:  "cdn",
	Title: "A CDN edge: near and far, hit and miss, the shield, and the origin down",
	Claim: "An edge near the user answers a hit without the round trip to the origin, so a far edge's hit is as fast as a near one's while its miss pays the distance; a shield in front of the origin turns the misses of several edges into one origin fetch; and when the origin fails, the edges keep answering from what they hold (stale-if-error).",
	Run:   runCDN,
}

// originRequests is the origin's count of traffic requests, from Prometheus.
func (e *Env) originRequests(ctx context.Context) (float64, error) {
	if err := e.Stack.Scraped(ctx); err != nil {
		return 0, err
	}
	return e.Stack.Query(ctx, `sum(scalelab_origin_http_requests_total)`)
}

func runCDN(ctx context.Context, e *Env, r *report.Report) error {
	r.Headline = "origin_fetches_shield"
	sydney, newyork := e.Stack.URL("EDGE_SYDNEY_PORT"), e.Stack.URL("EDGE_NEWYORK_PORT")
	r.Setup = append(r.Setup,
		"edge-sydney (`ORIGIN_RTT=200ms`: far from the origin) and edge-newyork (`5ms`: near), both fetching through edge-shield (`5ms`) from the origin",
		"objects: `/logo.png?v={id}`: the edges key on the whole URL, so every id is a new object the origin serves from the same file",
	)
	defer e.Stack.Restore(context.WithoutCancel(ctx))
	n := e.N(400, 80)
	// Ids of each part do not overlap, so every part starts cold.
	if err := cdnNearFar(ctx, e, r, sydney, newyork, n); err != nil {
		return err
	}
	if err := cdnShield(ctx, e, r, sydney, newyork, n); err != nil {
		return err
	}
	if err := cdnOriginDown(ctx, e, r, sydney); err != nil {
		return err
	}
	return cdnVerdict(r)
}

func assets(base string, lo, hi int64) loadgen.Config {
	cfg := scenario("assets", base)
	cfg.IDs, cfg.Sequential, cfg.Concurrency = &loadgen.IDRange{Lo: lo, Hi: hi}, true, 8
	return cfg
}

func cdnNearFar(ctx context.Context, e *Env, r *report.Report, sydney, newyork string, n int) error {
	type row struct{ miss, hit *loadgen.Report }
	res := map[string]row{}
	lo := time.Now().Unix() % 1_000_000 * 1000 // fresh ids on every run of the experiment
	for i, edge := range []struct{ name, url string }{{"near (newyork)", newyork}, {"far (sydney)", sydney}} {
		from := lo + int64(i*n)
		cfg := assets(edge.url, from, from+int64(n)-1)
		miss, err := e.Load(ctx, r, edge.name+" misses", cfg)
		if err != nil {
			return err
		}
		hit, err := e.Load(ctx, r, edge.name+" hits", cfg)
		if err != nil {
			return err
		}
		res[edge.name] = row{miss, hit}
	}
	r.Section("Near against far, hit against miss")
	r.Para("%d new objects fetched once through each edge (every one a miss, which goes to the shield and from there to the origin), then the same objects again (hits). Closed loop, 8 workers.", n)
	var rows [][]string
	cats := []string{"near miss", "near hit", "far miss", "far hit"}
	var p50 []float64
	for _, name := range []string{"near (newyork)", "far (sydney)"} {
		x := res[name]
		rows = append(rows, []string{name, ms(x.miss.LatencyMillis.P50), ms(x.miss.LatencyMillis.P99), ms(x.hit.LatencyMillis.P50), ms(x.hit.LatencyMillis.P99),
			pct(x.hit.Headers["X-Cache"].Count("HIT"), x.hit.Requests)})
		p50 = append(p50, x.miss.LatencyMillis.P50, x.hit.LatencyMillis.P50)
	}
	r.Table([]string{"edge", "miss p50", "miss p99", "hit p50", "hit p99", "second pass X-Cache: HIT"}, rows)
	if err := r.Chart("near-far.png", "p50 of a miss and of a hit at each edge", &chart.Bars{Title: "p50 latency at each edge", YLabel: "ms", Categories: cats, Groups: []chart.Group{{Name: "p50", Values: p50}}}); err != nil {
		return err
	}
	far, near := res["far (sydney)"], res["near (newyork)"]
	r.Number("far_hit_p50_ms", "far edge hit p50", far.hit.LatencyMillis.P50, "ms")
	r.Number("far_miss_p50_ms", "far edge miss p50", far.miss.LatencyMillis.P50, "ms")
	r.Number("near_hit_p50_ms", "near edge hit p50", near.hit.LatencyMillis.P50, "ms")
	r.Number("near_miss_p50_ms", "near edge miss p50", near.miss.LatencyMillis.P50, "ms")
	return nil
}

func cdnShield(ctx context.Context, e *Env, r *report.Report, sydney, newyork string, n int) error {
	lo := time.Now().Unix()%1_000_000*1000 + 500_000_000
	var rows [][]string
	var vals []float64
	for i, setup := range []struct {
		name string
		env  []string
	}{{"through the shield", nil}, {"straight to the origin", []string{"EDGE_PARENT_URL=http://origin:8080"}}} {
		if setup.env != nil {
			if err := e.Stack.Apply(ctx, setup.env, "--no-deps", "edge-sydney", "edge-newyork"); err != nil {
				return err
			}
		}
		from := lo + int64(i*n)
		before, err := e.originRequests(ctx)
		if err != nil {
			return err
		}
		for _, edge := range []string{newyork, sydney} {
			if _, err := e.Load(ctx, r, fmt.Sprintf("offload %s %s", setup.name, edge), assets(edge, from, from+int64(n)-1)); err != nil {
				return err
			}
		}
		after, err := e.originRequests(ctx)
		if err != nil {
			return err
		}
		fetched := after - before
		rows = append(rows, []string{setup.name, fmt.Sprint(2 * n), report.FormatValue(fetched), fmt.Sprintf("%.0f%%", 100*(1-fetched/float64(2*n)))})
		vals = append(vals, fetched)
	}
	if err := e.Stack.Restore(ctx); err != nil {
		return err
	}
	r.Section("Origin offload with and without the shield")
	r.Para("The same %d new objects asked once at each edge (so %d edge misses), first with both edges fetching through edge-shield, then with the edges pointed straight at the origin (`EDGE_PARENT_URL=http://origin:8080`). Origin requests are its own count (`scalelab_origin_http_requests_total`, read from Prometheus after a scrape).", n, 2*n)
	r.Table([]string{"edges fetch", "edge misses", "origin requests", "offload"}, rows)
	if err := r.Chart("shield.png", "Requests that reached the origin for the same edge misses", &chart.Bars{Title: "Origin requests for " + fmt.Sprint(2*n) + " edge misses", YLabel: "requests", Categories: []string{"with shield", "without shield"}, Groups: []chart.Group{{Name: "origin requests", Values: vals}}}); err != nil {
		return err
	}
	r.Number("origin_fetches_shield", "origin requests with the shield", vals[0], fmt.Sprintf("for %d edge misses", 2*n))
	r.Number("origin_fetches_direct", "origin requests without the shield", vals[1], fmt.Sprintf("for %d edge misses", 2*n))
	return nil
}

func cdnOriginDown(ctx context.Context, e *Env, r *report.Report, sydney string) error {
	// Objects that go stale in 2 s and may be served stale for 10 min when
	// the origin fails (RFC 5861's stale-if-error), given by the origin.
	// edge-sydney fetches straight from the origin here: through the
	// shield, the shield would serve the stale copies and edge-sydney see
	// a successful revalidation, hiding who answered from what it held.
	cc := "ORIGIN_CACHE_CONTROL=public, max-age=2, stale-if-error=600"
	if err := e.Stack.Apply(ctx, []string{cc, "EDGE_PARENT_URL=http://origin:8080"}, "--no-deps", "origin", "edge-sydney"); err != nil {
		return err
	}
	lo := time.Now().Unix()%1_000_000*1000 + 700_000_000
	warm := assets(sydney, lo, lo+49)
	if _, err := e.Load(ctx, r, "origin down: warm", warm); err != nil {
		return err
	}
	d := e.D(40*time.Second, 20*time.Second)
	rep, downAt, upAt, err := cdnLoadOriginDown(ctx, e, r, sydney, lo, d)
	if err != nil {
		return err
	}
	if err := e.Stack.Restore(ctx); err != nil {
		return err
	}
	r.Section("The origin down: stale answers over time")
	r.Para("The origin restarted with `ORIGIN_CACHE_CONTROL=\"public, max-age=2, stale-if-error=600\"` and edge-sydney with `EDGE_PARENT_URL=http://origin:8080` (straight to the origin, so the edge the clients talk to is the one that must answer from what it holds; through the shield, the shield does it and edge-sydney sees a revalidation); 50 objects warmed at edge-sydney; then 50 requests/s over them for at least %v, the origin stopped at %v and started again at %v (the moments each `docker compose` command had taken effect; the load goes on until a quarter of the run has passed after the restart). Each object goes stale 2 s after it was fetched, so while the origin is down the edges can only answer from what they hold.", d, downAt.Round(100*time.Millisecond), upAt.Round(100*time.Millisecond))
	r.Table([]string{"", "value"}, [][]string{
		{"requests", fmt.Sprint(rep.Requests)},
		{"errors (transport, 4xx, 5xx)", fmt.Sprintf("%d (%d, %d, %d)", rep.Errors, rep.TransportErrors, rep.Status["4xx"], rep.Status["5xx"])},
		{"X-Cache", fmt.Sprintf("%v", rep.Headers["X-Cache"].Top)},
	})
	var lines []chart.Series
	for _, v := range []string{"HIT", "STALE", "MISS", "REVALIDATED"} {
		xs, ys := series(rep, func(s loadgen.Second) float64 { return float64(s.Headers["X-Cache"][v]) })
		lines = append(lines, chart.Series{Name: v, X: xs, Y: ys})
	}
	xs, ys := series(rep, func(s loadgen.Second) float64 { return float64(s.Errors) })
	lines = append(lines, chart.Series{Name: "errors", X: xs, Y: ys})
	marks := []chart.Mark{{X: downAt.Seconds(), Label: "origin stopped"}, {X: upAt.Seconds(), Label: "origin started"}}
	if err := r.Chart("origin-down.png", "Answers per second at edge-sydney by X-Cache while the origin was down", &chart.Lines{Title: "edge-sydney answers per second, origin down", XLabel: "seconds", YLabel: "answers/s", Series: lines, Marks: marks}); err != nil {
		return err
	}
	r.Number("origin_down_errors", "errors while the origin was down", float64(rep.Errors), fmt.Sprintf("of %d", rep.Requests))
	r.Number("origin_down_stale", "stale answers served", float64(rep.Headers["X-Cache"].Count("STALE")), "")
	return nil
}

func cdnVerdict(r *report.Report) error {
	n := map[string]float64{}
	for _, x := range r.Numbers() {
		n[x.Key] = x.Value
	}
	var held, missed []string
	check := func(ok bool, yes, no string) {
		if ok {
			held = append(held, yes)
		} else {
			missed = append(missed, no)
		}
	}
	check(n["far_miss_p50_ms"] > 150 && n["far_hit_p50_ms"] < 20,
		fmt.Sprintf("the far edge answered a hit in %s and a miss in %s", ms(n["far_hit_p50_ms"]), ms(n["far_miss_p50_ms"])),
		fmt.Sprintf("the far edge's hit (%s) and miss (%s) were not as far apart as claimed", ms(n["far_hit_p50_ms"]), ms(n["far_miss_p50_ms"])))
	check(n["origin_fetches_shield"] < n["origin_fetches_direct"],
		fmt.Sprintf("the shield cut origin requests from %.0f to %.0f", n["origin_fetches_direct"], n["origin_fetches_shield"]),
		fmt.Sprintf("the shield did not cut origin requests (%.0f with, %.0f without)", n["origin_fetches_shield"], n["origin_fetches_direct"]))
	check(n["origin_down_errors"] == 0 && n["origin_down_stale"] > 0,
		fmt.Sprintf("with the origin down the edge served %.0f stale answers and no error", n["origin_down_stale"]),
		fmt.Sprintf("with the origin down: %.0f errors, %.0f stale answers", n["origin_down_errors"], n["origin_down_stale"]))
	r.Verdict = report.Held
	if len(missed) > 0 {
		r.Verdict = report.Partly
		if len(held) == 0 {
			r.Verdict = report.NotHeld
		}
	}
	r.VerdictText = capitalize(joinSemi(held))
	if len(missed) > 0 {
		r.VerdictText += ". Not as claimed: " + joinSemi(missed)
	}
	r.VerdictText += "."
	return nil
}

func joinSemi(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += "; "
		}
		out += x
	}
	return out
}

// cdnLoadOriginDown runs the stale-if-error load at edge-sydney and stops
// the origin for the middle half of it. The marks are the moments the
// compose commands returned, counted from the load's start: on a busy
// machine `docker compose stop` can take many seconds, and a plan-based
// mark would claim an outage the load never saw. The load goes on until
// the origin is back and a quarter of the run has passed.
func cdnLoadOriginDown(ctx context.Context, e *Env, r *report.Report, sydney string, lo int64, d time.Duration) (rep *loadgen.Report, downAt, upAt time.Duration, err error) {
	cfg := scenario("assets", sydney)
	cfg.IDs, cfg.Rate, cfg.Concurrency, cfg.Duration = &loadgen.IDRange{Lo: lo, Hi: lo + 49}, 50, 256, 4*d
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var loadErr error
	loaded := make(chan struct{})
	t0 := time.Now()
	go func() {
		defer close(loaded)
		rep, loadErr = e.Load(loadCtx, r, "origin down", cfg)
	}()
	err = sleep(ctx, d/4)
	if err == nil {
		_, err = e.Stack.Compose(ctx, nil, "stop", "-t", "0", "origin")
		downAt = time.Since(t0)
		e.Logf("origin stopped at %v", downAt.Round(100*time.Millisecond))
	}
	if err == nil {
		err = sleep(ctx, d/2)
	}
	if err == nil {
		_, err = e.Stack.Compose(ctx, nil, "start", "origin")
		upAt = time.Since(t0)
		e.Logf("origin started at %v", upAt.Round(100*time.Millisecond))
	}
	if err == nil {
		err = sleep(ctx, d/4)
	}
	stopLoad()
	<-loaded
	if err == nil {
		err = loadErr
	}
	return rep, downAt, upAt, err
}
