package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"scalelab/loadtest/internal/bench"
)

// printComparison prints one path's two sides and their ratios. req/s
// below 1x and latencies above 1x are what the api adds to the bare
// dependency.
func printComparison(w io.Writer, title string, c comparison) {
	fmt.Fprintf(w, "\n== %s ==\n", title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tn\treq/s\tp50\tp99\terrors\t")
	for _, r := range []result{c.api, c.direct} {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%d\t\n", r.label, r.n, r.rps(), bench.Ms(r.p50), bench.Ms(r.p99), r.errors)
	}
	fmt.Fprintf(tw, "api / direct\t\t%s\t%s\t%s\t\t\n", bench.Ratio(c.api.rps(), c.direct.rps()),
		bench.Ratio(float64(c.api.p50), float64(c.direct.p50)), bench.Ratio(float64(c.api.p99), float64(c.direct.p99)))
	tw.Flush()
	fmt.Fprintln(w, c.note)
}

// counts prints a map as "k=v k=v", sorted by key.
func counts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func stampedeLine(s stampedeResult) string {
	return fmt.Sprintf("%d concurrent requests -> %.0f database reads (goal 1)", s.requests, s.reads)
}

func printStampede(w io.Writer, s stampedeResult, replicas int) {
	fmt.Fprintf(w, "\n== stampede: user %d, cold, %d GETs released at once over %d cache-aside replicas ==\n",
		stampedeID, s.requests, replicas)
	fmt.Fprintln(w, stampedeLine(s))
	if s.breakersSettled < 0 {
		fmt.Fprintln(w, "warning: a Redis breaker was still open when the burst started (after warming the pools)")
	} else {
		fmt.Fprintf(w, "before it: connections opened, Redis pools warmed, all breakers closed (waited %s)\n", s.breakersSettled.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "status %s; X-Cache %s; all answered in %s\n", counts(s.status), counts(s.xcache), s.elapsed.Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  replica\tX-Cache\tdb reads\tcache GETs (by result)\tlease waits (by outcome)\tbreaker after")
	for _, r := range s.perReplica {
		fmt.Fprintf(tw, "  %s\t%s\t%.0f\t%s\t%s\t%s\n", r.name, counts(r.xcache), r.counters.dbReads,
			orDash(fcounts(r.counters.cacheGets)), orDash(fcounts(r.counters.leaseWaits)),
			map[bool]string{true: "open", false: "closed"}[r.counters.breaker > 0])
	}
	tw.Flush()
	fmt.Fprintln(w, "  (cache GET error: Redis slower than REDIS_TIMEOUT, the request reads the shard itself;")
	fmt.Fprintln(w, "   bypass: breaker open, Redis skipped; lease wait timeout: the fill took longer than CACHE_LEASE_WAIT)")
}

func fcounts(m map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%.0f", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func percent(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) }

func windowRatios(ws []window) string {
	var parts []string
	for _, w := range ws {
		parts = append(parts, percent(w.ratio()))
	}
	return strings.Join(parts, " ")
}

func printWindows(w io.Writer, ws []window, replicas int) {
	fmt.Fprintf(w, "\n== hit ratio over time: Zipf(s=%g) over ids 1-%d, Redis emptied first, %d replicas, c=%d ==\n",
		zipfS, seedUsers, replicas, concurrency)
	for i, win := range ws {
		fmt.Fprintf(w, "window %2d  requests %5d-%5d  hit ratio %s\n", i+1, i*zipfWindowLen+1, (i+1)*zipfWindowLen, percent(win.ratio()))
	}
}

// summary is everything the closing markdown table needs.
type summary struct {
	hit, miss  comparison
	stampede   stampedeResult
	windows    []window
	machine    string
	setup, run time.Duration
}

// writeMarkdown prints the table to paste into a note. Ratios are api /
// direct: below 1x for throughput, above 1x for latency.
func writeMarkdown(w io.Writer, s summary) {
	fmt.Fprintln(w, "\n| make bench-api | through the api | direct | api / direct |")
	fmt.Fprintln(w, "|---|---:|---:|---:|")
	row := func(name string, c comparison, direct string) {
		fmt.Fprintf(w, "| %s, req/s | %.0f | %.0f (%s) | %s |\n", name, c.api.rps(), c.direct.rps(), direct, bench.Ratio(c.api.rps(), c.direct.rps()))
		fmt.Fprintf(w, "| %s, p50 / p99 | %s / %s | %s / %s | %s / %s |\n", name,
			bench.Ms(c.api.p50), bench.Ms(c.api.p99), bench.Ms(c.direct.p50), bench.Ms(c.direct.p99),
			bench.Ratio(float64(c.api.p50), float64(c.direct.p50)), bench.Ratio(float64(c.api.p99), float64(c.direct.p99)))
	}
	row(fmt.Sprintf("hit path (1 replica, ids 1-%d cached, c=%d, n=%d)", hotIDs, concurrency, hitRequests), s.hit, "Redis GET")
	row(fmt.Sprintf("miss path (CACHE_STRATEGY=none, ids 1-%d, c=%d, n=%d)", seedUsers, concurrency, missRequests), s.miss, "pgx SELECT")
	fmt.Fprintf(w, "| stampede (cold id, 3 replicas) | %s | | |\n", stampedeLine(s.stampede))
	fmt.Fprintf(w, "| hit ratio, Zipf(%g) over ids 1-%d, %d windows x %d requests, 3 replicas | %s | | |\n",
		zipfS, seedUsers, zipfWindows, zipfWindowLen, windowRatios(s.windows))
	fmt.Fprintf(w, "\n%s; setup %s, measurements %s.\n", s.machine, s.setup.Round(time.Second), s.run.Round(time.Second))
}
