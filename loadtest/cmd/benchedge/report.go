package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one target's rounds on one object, summarized.
type row struct {
	name           string
	requests       int
	errors         int
	rps            float64 // all requests over all measured time
	p50, p99       time.Duration
	originRequests int64
	cpuPerReq      time.Duration // the cache's CPU time per request; -1 if unknown
}

// objectTable is the rows of one object size.
type objectTable struct {
	object string
	rows   []row // ours first, then Varnish, then nginx
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
		r.originRequests += m.originRequests
		cpu += m.cacheCPU
		cpuKnown = cpuKnown && m.cacheCPU >= 0
		p50s = append(p50s, m.p50)
		p99s = append(p99s, m.p99)
	}
	if elapsed > 0 {
		r.rps = float64(r.requests) / elapsed.Seconds()
	}
	if r.requests > 0 && cpuKnown {
		r.cpuPerReq = cpu / time.Duration(r.requests)
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

func us(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
}

// ratio prints a/b, or "-" when b is zero.
func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func printReport(w io.Writer, tables []objectTable, o options) {
	fmt.Fprintf(w, "\nHit path, GET of one cached object, %d rounds of %s per target and object, interleaved:\n\n", o.rounds, o.duration)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "object\tcache\treq/s\tp50\tp99\tCPU/req\terrors\torigin reqs\t\n")
	for _, tb := range tables {
		for _, r := range tb.rows {
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%d\t%d\t\n", tb.object, r.name, r.rps, ms(r.p50), ms(r.p99), us(r.cpuPerReq), r.errors, r.originRequests)
		}
	}
	tw.Flush()

	fmt.Fprintf(w, "\nRatios (req/s: higher is better for ours; p99 and CPU/req: lower is better for ours):\n\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "object\tratio\treq/s\tp99\tCPU/req\t\n")
	for _, tb := range tables {
		if len(tb.rows) < 3 {
			continue
		}
		ours := tb.rows[0]
		for _, peer := range tb.rows[1:] {
			name := "ours/" + strings.Fields(peer.name)[0]
			cpu := "-"
			if ours.cpuPerReq > 0 && peer.cpuPerReq > 0 {
				cpu = ratio(float64(ours.cpuPerReq), float64(peer.cpuPerReq))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", tb.object, name, ratio(ours.rps, peer.rps), ratio(float64(ours.p99), float64(peer.p99)), cpu)
		}
	}
	tw.Flush()
	var notHits []string
	for _, tb := range tables {
		for _, r := range tb.rows {
			if r.originRequests > 0 || r.errors > 0 {
				notHits = append(notHits, fmt.Sprintf("%s %s: %d origin requests, %d errors", tb.object, r.name, r.originRequests, r.errors))
			}
		}
	}
	if len(notHits) > 0 {
		fmt.Fprintf(w, "\nWARNING: not every measured request was a clean hit:\n  %s\n", strings.Join(notHits, "\n  "))
	}
}
