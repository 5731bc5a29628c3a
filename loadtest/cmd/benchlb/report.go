package main

import (
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

var execLookPath = exec.LookPath

// row is one target's rounds, summarized.
type row struct {
	name          string
	requests      int
	errors        int
	rps           float64 // all requests over all measured time
	p50, p99      time.Duration
	connsPerReq   float64
	roundRPS      []float64
	upstreamConns int64
	cpuPerReq     time.Duration // the balancer's CPU time per request; -1 if unknown or direct
}

// summarize pools the rounds: req/s is every request over every second
// measured; p50 and p99 are the medians of the rounds' own percentiles.
func summarize(name string, ms []measurement) row {
	r := row{name: name, cpuPerReq: -1}
	var elapsed, cpu time.Duration
	cpuKnown := len(ms) > 0
	var p50s, p99s []time.Duration
	for _, m := range ms {
		r.requests += m.requests
		r.errors += m.errors
		elapsed += m.elapsed
		r.upstreamConns += m.upstreamConns
		cpu += m.proxyCPU
		cpuKnown = cpuKnown && m.proxyCPU >= 0
		p50s = append(p50s, m.p50)
		p99s = append(p99s, m.p99)
		if m.elapsed > 0 {
			r.roundRPS = append(r.roundRPS, float64(m.requests)/m.elapsed.Seconds())
		}
	}
	if elapsed > 0 {
		r.rps = float64(r.requests) / elapsed.Seconds()
	}
	if r.requests > 0 {
		r.connsPerReq = float64(r.upstreamConns) / float64(r.requests)
		if cpuKnown {
			r.cpuPerReq = cpu / time.Duration(r.requests)
		}
	}
	r.p50, r.p99 = median(p50s), median(p99s)
	return r
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

// us prints a balancer's CPU time per request; "-" when there is none.
func us(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
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

func printReport(w io.Writer, rows []row, o options) {
	byName := map[string]row{}
	for _, r := range rows {
		byName[r.name] = r
	}
	fmt.Fprintf(w, "\n== GET / over 2 backends, c=%d, %d rounds x %s per target, interleaved ==\n", o.concurrency, o.rounds, o.duration)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\trequests\treq/s\tp50\tp99\terrors\tupstream conns\tconns/req\tbalancer CPU/req\treq/s by round\t")
	for _, r := range rows {
		var rounds []string
		for _, v := range r.roundRPS {
			rounds = append(rounds, fmt.Sprintf("%.0f", v))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%d\t%d\t%.4f\t%s\t%s\t\n", r.name, r.requests, r.rps, ms(r.p50), ms(r.p99),
			r.errors, r.upstreamConns, r.connsPerReq, us(r.cpuPerReq), strings.Join(rounds, " "))
	}
	tw.Flush()

	fmt.Fprintln(w, "\n== ratios ==")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\treq/s\tp50\tp99\tCPU/req\tgoal\t")
	for _, c := range comparisons {
		a, b := byName[c.ours], byName[c.peer]
		fmt.Fprintf(tw, "%s / %s\t%s\t%s\t%s\t%s\t%s\t\n", c.ours, c.peer, ratio(a.rps, b.rps),
			ratio(float64(a.p50), float64(b.p50)), ratio(float64(a.p99), float64(b.p99)), cpuRatio(a, b), c.goal)
	}
	tw.Flush()
	fmt.Fprintln(w, "(upstream conns: connections the backends accepted during the measured rounds; with keep-alive")
	fmt.Fprintln(w, " pools it stays near the pool size, a balancer that dials per request shows about 1 conn/req;")
	fmt.Fprintln(w, " balancer CPU/req: user+system time of the balancer's processes over its requests, 10ms ticks)")

	fmt.Fprintln(w, "\n| make bench-lb | req/s | p50 | p99 | errors | upstream conns/req | balancer CPU/req |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %d | %.4f | %s |\n", r.name, r.rps, ms(r.p50), ms(r.p99), r.errors, r.connsPerReq, us(r.cpuPerReq))
	}
	for _, c := range comparisons {
		a, b := byName[c.ours], byName[c.peer]
		fmt.Fprintf(w, "| %s / %s | %s | %s | %s | | | %s |\n", c.ours, c.peer, ratio(a.rps, b.rps),
			ratio(float64(a.p50), float64(b.p50)), ratio(float64(a.p99), float64(b.p99)), cpuRatio(a, b))
	}
}

// toolVersion is the first line a peer prints for -v ("nginx version: nginx/1.22.1").
func toolVersion(bin string, arg string) string {
	out, _ := exec.Command(bin, arg).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// cpuRatio compares two balancers' CPU per request; "-" against direct.
func cpuRatio(a, b row) string {
	if a.cpuPerReq < 0 || b.cpuPerReq <= 0 {
		return "-"
	}
	return ratio(float64(a.cpuPerReq), float64(b.cpuPerReq))
}
