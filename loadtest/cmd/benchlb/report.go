package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"scalelab/loadtest/internal/bench"
)

// row is one target's rounds, summarized; Counted is the connections the
// backends accepted meanwhile.
type row struct {
	bench.Summary
	connsPerReq float64 // upstream connections per request
}

func summarize(name string, ms []bench.Measurement) row {
	r := row{Summary: bench.Summarize(name, ms)}
	if r.Requests > 0 {
		r.connsPerReq = float64(r.Counted) / float64(r.Requests)
	}
	return r
}

// comparisons are the ratios the report prints, ours first, each with the
// goal printed beside it (none where the ratio only informs).
var comparisons = []struct{ ours, peer, goal string }{
	{"lb L7 fast", "nginx (keepalive)", "req/s >= 1.0x, p99 <= 1.0x"},
	{"lb L7 fast", "HAProxy http (reuse)", "req/s >= 1.0x, p99 <= 1.0x"},
	{"lb L7 std", "nginx (keepalive)", "req/s >= 1.0x, p99 <= 1.0x"},
	{"lb L7 std", "HAProxy http (reuse)", "req/s >= 1.0x, p99 <= 1.0x"},
	{"lb L7 fast", "lb L7 std", ""},
	{"lb L4", "HAProxy tcp", ""},
	{"lb L4", "direct (backend-1)", "req/s >= 0.8x"},
	{"lb L7 fast", "direct (backend-1)", ""},
}

func printReport(w io.Writer, rows []row, o bench.Options) {
	byName := map[string]row{}
	for _, r := range rows {
		byName[r.Name] = r
	}
	fmt.Fprintf(w, "\n== GET / over 2 backends, c=%d, %d rounds x %s per target, interleaved ==\n", o.Concurrency, o.Rounds, o.Duration)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\trequests\treq/s\tp50\tp99\terrors\tupstream conns\tconns/req\tbalancer CPU/req\treq/s by round\t")
	for _, r := range rows {
		var rounds []string
		for _, v := range r.RoundRPS {
			rounds = append(rounds, fmt.Sprintf("%.0f", v))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%d\t%d\t%.4f\t%s\t%s\t\n", r.Name, r.Requests, r.RPS, bench.Ms(r.P50), bench.Ms(r.P99),
			r.Errors, r.Counted, r.connsPerReq, bench.Micros(r.CPUPerReq), strings.Join(rounds, " "))
	}
	tw.Flush()

	fmt.Fprintln(w, "\n== ratios ==")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\treq/s\tp50\tp99\tCPU/req\tgoal\t")
	for _, c := range comparisons {
		a, b := byName[c.ours], byName[c.peer]
		fmt.Fprintf(tw, "%s / %s\t%s\t%s\t%s\t%s\t%s\t\n", c.ours, c.peer, bench.Ratio(a.RPS, b.RPS),
			bench.Ratio(float64(a.P50), float64(b.P50)), bench.Ratio(float64(a.P99), float64(b.P99)), cpuRatio(a, b), c.goal)
	}
	tw.Flush()
	fmt.Fprintln(w, "(upstream conns: connections the backends accepted during the measured rounds; with keep-alive")
	fmt.Fprintln(w, " pools it stays near the pool size, a balancer that dials per request shows about 1 conn/req;")
	fmt.Fprintln(w, " balancer CPU/req: user+system time of the balancer's processes over its requests, 10ms ticks)")

	fmt.Fprintln(w, "\n| make bench-lb | req/s | p50 | p99 | errors | upstream conns/req | balancer CPU/req |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %d | %.4f | %s |\n", r.Name, r.RPS, bench.Ms(r.P50), bench.Ms(r.P99), r.Errors, r.connsPerReq, bench.Micros(r.CPUPerReq))
	}
	for _, c := range comparisons {
		a, b := byName[c.ours], byName[c.peer]
		fmt.Fprintf(w, "| %s / %s | %s | %s | %s | | | %s |\n", c.ours, c.peer, bench.Ratio(a.RPS, b.RPS),
			bench.Ratio(float64(a.P50), float64(b.P50)), bench.Ratio(float64(a.P99), float64(b.P99)), cpuRatio(a, b))
	}
}

// cpuRatio compares two balancers' CPU per request; "-" against direct.
func cpuRatio(a, b row) string {
	if a.CPUPerReq < 0 || b.CPUPerReq <= 0 {
		return "-"
	}
	return bench.Ratio(float64(a.CPUPerReq), float64(b.CPUPerReq))
}
