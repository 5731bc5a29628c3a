package experiments

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"scalelab/loadtest/internal/chart"
	"scalelab/loadtest/internal/loadgen"
	"scalelab/loadtest/internal/report"
)

// readAfterWrite writes a user then reads it at once, n times, and counts
// reads that returned the written name and reads that were cache hits.
func readAfterWrite(ctx context.Context, lb string, n int) (fresh, hits int, err error) {
	c := &http.Client{Timeout: 5 * time.Second}
	for i := range n {
		id := 9000 + i
		name := fmt.Sprintf("raw-%d-%d", id, time.Now().UnixNano())
		req, _ := http.NewRequestWithContext(ctx, "PUT", fmt.Sprintf("%s/users/%d", lb, id),
			strings.NewReader(fmt.Sprintf(`{"name":%q,"email":"u%d@example.com"}`, name, id)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return 0, 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		resp, err = c.Get(fmt.Sprintf("%s/users/%d", lb, id))
		if err != nil {
			return 0, 0, err
		}
		var u struct {
			Name string `json:"name"`
		}
		json.NewDecoder(resp.Body).Decode(&u)
		resp.Body.Close()
		if u.Name == name {
			fresh++
		}
		if resp.Header.Get("X-Cache") == "HIT" {
			hits++
		}
	}
	return fresh, hits, nil
}

func cacheWrites(ctx context.Context, e *Env, r *report.Report, lb string) error {
	strategies := []string{"cache-aside"}
	if !e.Short {
		strategies = append(strategies, "write-through")
	}
	r.Section("Cache-aside against write-through: writes, and the read after a write")
	var rows [][]string
	var p50s, p99s []float64
	for _, st := range strategies {
		if st != "cache-aside" {
			if err := e.Stack.Apply(ctx, cacheEnv("CACHE_STRATEGY="+st), "--no-deps", "api"); err != nil {
				return err
			}
		}
		cfg := scenario("write", lb)
		cfg.Concurrency, cfg.Duration = 8, e.D(10*time.Second, 5*time.Second)
		rep, err := e.Load(ctx, r, "writes "+st, cfg)
		if err != nil {
			return err
		}
		n := e.N(200, 50)
		fresh, hits, err := readAfterWrite(ctx, lb, n)
		if err != nil {
			return err
		}
		rows = append(rows, []string{st, fmt.Sprint(rep.Requests), fmt.Sprint(rep.Errors), ms(rep.LatencyMillis.P50), ms(rep.LatencyMillis.P99),
			fmt.Sprintf("%d / %d", fresh, n), fmt.Sprintf("%d / %d", hits, n)})
		p50s, p99s = append(p50s, rep.LatencyMillis.P50), append(p99s, rep.LatencyMillis.P99)
		r.Number(strings.ReplaceAll(st, "-", "_")+"_write_p50_ms", "write p50, "+st, rep.LatencyMillis.P50, "ms")
		r.Number(strings.ReplaceAll(st, "-", "_")+"_raw_fresh", "reads right after a write that saw it, "+st, float64(fresh), fmt.Sprintf("of %d", n))
	}
	r.Table([]string{"strategy", "writes", "errors", "write p50", "write p99", "read after write saw the write", "read after write was a hit"}, rows)
	if e.Short {
		r.Para("Short mode: write-through (which restarts the replicas with `CACHE_STRATEGY=write-through`) is left out; `make experiment NAME=cache` runs it.")
	} else {
		r.Para("Cache-aside deletes the cached user on a write, so the next read is a miss that reads the shard; write-through sets the new value in Redis as part of the write, so the write does more and the next read is a hit.")
	}
	if err := e.Stack.Apply(ctx, cacheEnv()); err != nil {
		return err
	}
	return r.Chart("writes.png", "Write latency by strategy", &chart.Bars{Title: "PUT /users/{id} latency", YLabel: "ms", Categories: strategies,
		Groups: []chart.Group{{Name: "p50", Values: p50s}, {Name: "p99", Values: p99s}}})
}

func cacheRedisKilled(ctx context.Context, e *Env, r *report.Report, lb string) error {
	d, rate := e.D(45*time.Second, 24*time.Second), e.N(200, 150)
	killAt, backAt := (d / 3).Round(time.Second), (2 * d / 3).Round(time.Second)
	cfg := scenario("read", lb)
	cfg.Rate, cfg.Concurrency, cfg.Duration, cfg.Zipf = rate, 256, d, 1.0
	done := make(chan error, 1)
	go func() {
		if sleep(ctx, killAt) != nil {
			done <- ctx.Err()
			return
		}
		if _, err := e.Stack.Compose(ctx, nil, "kill", "redis"); err != nil {
			done <- err
			return
		}
		e.Logf("redis killed at %v", killAt)
		if sleep(ctx, backAt-killAt) != nil {
			done <- ctx.Err()
			return
		}
		_, err := e.Stack.Compose(ctx, nil, "start", "redis")
		e.Logf("redis started at %v", backAt)
		done <- err
	}()
	rep, err := e.Load(ctx, r, "redis killed", cfg)
	if err2 := <-done; err == nil {
		err = err2
	}
	if err != nil {
		return err
	}
	if err := e.Stack.Apply(ctx, cacheEnv()); err != nil {
		return err
	}
	r.Section("Redis killed under load")
	r.Para("%d reads/s (open loop, Zipf s=1.0) for %v; Redis killed (`docker kill`) at %v and started again at %v. With Redis gone the api bounds every Redis call (`REDIS_TIMEOUT`), opens its circuit breaker and reads the shards (`X-Cache: BYPASS`); an empty Redis then refills.", rate, d, killAt, backAt)
	r.Table([]string{"", "value"}, [][]string{
		{"requests", fmt.Sprint(rep.Requests)},
		{"errors (transport, 4xx, 5xx)", fmt.Sprintf("%d (%d, %d, %d)", rep.Errors, rep.TransportErrors, rep.Status["4xx"], rep.Status["5xx"])},
		{"answers that bypassed Redis", fmt.Sprint(rep.Headers["X-Cache"].Count("BYPASS"))},
		{"p50 / p99 / max", ms(rep.LatencyMillis.P50) + " / " + ms(rep.LatencyMillis.P99) + " / " + ms(rep.LatencyMillis.Max)},
	})
	marks := []chart.Mark{{X: killAt.Seconds(), Label: "redis killed"}, {X: backAt.Seconds(), Label: "redis started"}}
	x, p50 := series(rep, func(s loadgen.Second) float64 { return s.LatencyMillis.P50 })
	_, p99 := series(rep, func(s loadgen.Second) float64 { return s.LatencyMillis.P99 })
	if err := r.Chart("redis-killed-latency.png", "Latency per second while Redis was killed and restarted", &chart.Lines{Title: "Latency per second, Redis killed", XLabel: "seconds", YLabel: "ms", Series: []chart.Series{{Name: "p50", X: x, Y: p50}, {Name: "p99", X: x, Y: p99}}, Marks: marks}); err != nil {
		return err
	}
	var lines []chart.Series
	for _, v := range []string{"HIT", "MISS", "BYPASS"} {
		xs, ys := series(rep, func(s loadgen.Second) float64 { return float64(s.Headers["X-Cache"][v]) })
		lines = append(lines, chart.Series{Name: v, X: xs, Y: ys})
	}
	xs, ys := series(rep, func(s loadgen.Second) float64 { return float64(s.Errors) })
	lines = append(lines, chart.Series{Name: "errors", X: xs, Y: ys})
	if err := r.Chart("redis-killed-answers.png", "Answers per second by X-Cache, and errors", &chart.Lines{Title: "Answers per second by X-Cache, Redis killed", XLabel: "seconds", YLabel: "answers/s", Series: lines, Marks: marks}); err != nil {
		return err
	}
	r.Number("redis_killed_errors", "errors while Redis was killed", float64(rep.Errors), "")
	r.Number("redis_killed_bypass", "answers that bypassed Redis", float64(rep.Headers["X-Cache"].Count("BYPASS")), "")
	return nil
}

func cacheVerdict(r *report.Report) error {
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
	check(n["miss_hit_p50_ratio"] >= 1.5, fmt.Sprintf("a hit was %.1f× faster than a miss in p50", n["miss_hit_p50_ratio"]),
		fmt.Sprintf("a hit was only %.1f× faster than a miss in p50 (a miss here is an in-memory primary-key read on the same machine plus "+missCost+")", n["miss_hit_p50_ratio"]))
	check(n["zipf_hit_ratio_pct"] > n["uniform_hit_ratio_pct"], fmt.Sprintf("Zipf reached %.0f%% hits against %.0f%% for uniform keys", n["zipf_hit_ratio_pct"], n["uniform_hit_ratio_pct"]),
		"Zipf keys did not reach a higher hit ratio than uniform ones")
	check(n["stampede_db_reads"] <= 3 && n["stampede_db_reads"] < n["nolease_db_reads"], fmt.Sprintf("500 concurrent requests for a cold key cost %.0f shard read(s) with leases, %.0f without", n["stampede_db_reads"], n["nolease_db_reads"]),
		fmt.Sprintf("the stampede cost %.0f shard reads with leases, %.0f without", n["stampede_db_reads"], n["nolease_db_reads"]))
	check(n["redis_killed_errors"] == 0, "killing Redis cost no request", fmt.Sprintf("killing Redis cost %.0f failed requests", n["redis_killed_errors"]))
	r.Verdict = report.Held
	if len(missed) > 0 {
		r.Verdict = report.Partly
		if len(held) == 0 {
			r.Verdict = report.NotHeld
		}
	}
	r.VerdictText = capitalize(strings.Join(held, "; "))
	if len(missed) > 0 {
		r.VerdictText += ". Not as claimed: " + strings.Join(missed, "; ")
	}
	r.VerdictText += "."
	return nil
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
