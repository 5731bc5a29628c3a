package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"scalelab/loadtest/internal/bench"
)

// row is one target's rounds on one object, summarized; Counted is the
// requests that reached the origin meanwhile (0: all hits).
type row = bench.Summary

// objectTable is the rows of one object size.
type objectTable struct {
	object string
	rows   []row // ours first, then Varnish, then nginx
}

// ratio prints a/b, or "-" when b is zero; unlike bench.Ratio without an
// "x", as this report always printed it.
func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func printReport(w io.Writer, tables []objectTable, o bench.Options) {
	fmt.Fprintf(w, "\nHit path, GET of one cached object, %d rounds of %s per target and object, interleaved:\n\n", o.Rounds, o.Duration)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "object\tcache\treq/s\tp50\tp99\tCPU/req\terrors\torigin reqs\t\n")
	for _, tb := range tables {
		for _, r := range tb.rows {
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%d\t%d\t\n", tb.object, r.Name, r.RPS, bench.Ms(r.P50), bench.Ms(r.P99), bench.Micros(r.CPUPerReq), r.Errors, r.Counted)
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
			name := "ours/" + strings.Fields(peer.Name)[0]
			cpu := "-"
			if ours.CPUPerReq > 0 && peer.CPUPerReq > 0 {
				cpu = ratio(float64(ours.CPUPerReq), float64(peer.CPUPerReq))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", tb.object, name, ratio(ours.RPS, peer.RPS), ratio(float64(ours.P99), float64(peer.P99)), cpu)
		}
	}
	tw.Flush()
	var notHits []string
	for _, tb := range tables {
		for _, r := range tb.rows {
			if r.Counted > 0 || r.Errors > 0 {
				notHits = append(notHits, fmt.Sprintf("%s %s: %d origin requests, %d errors", tb.object, r.Name, r.Counted, r.Errors))
			}
		}
	}
	if len(notHits) > 0 {
		fmt.Fprintf(w, "\nWARNING: not every measured request was a clean hit:\n  %s\n", strings.Join(notHits, "\n  "))
	}
}
