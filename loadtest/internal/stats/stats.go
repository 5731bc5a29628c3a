// Package stats holds the little bit of statistics the load generator needs:
// exact latency percentiles and a bounded "most frequent values" counter.
package stats

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0..100) of sorted, which must be in
// ascending order. It uses the nearest-rank method: the smallest sample such
// that at least p% of all samples are <= it. That is always a real, observed
// latency (no interpolation), which is the easiest definition to explain.
//
// Keeping every sample is fine here: the generator refuses more than 10M
// requests, i.e. at most 80 MB of durations. Beyond that you would switch to
// a log-bucketed histogram (HDR style) and accept a small relative error.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	switch {
	case n == 0:
		return 0
	case p <= 0:
		return sorted[0]
	case p >= 100:
		return sorted[n-1]
	}
	// Multiply before dividing so that e.g. p=99, n=100 gives exactly 99
	// instead of 99.00000000000001 (0.99 is not exact in binary).
	rank := int(math.Ceil(p * float64(n) / 100)) // 1-based
	return sorted[max(rank, 1)-1]
}

// Summary is the latency digest printed by the load generator.
type Summary struct {
	Count              int
	P50, P90, P99, Max time.Duration
}

// Summarize sorts d in place and returns its percentiles.
func Summarize(d []time.Duration) Summary {
	slices.Sort(d)
	return Summary{
		Count: len(d),
		P50:   Percentile(d, 50),
		P90:   Percentile(d, 90),
		P99:   Percentile(d, 99),
		Max:   Percentile(d, 100),
	}
}

// Count is one value and how often it was seen.
type Count struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// Counter counts string values (e.g. the X-Served-By header) but remembers at
// most maxKeys distinct values. A header that carries something unique per
// response (a request id, a timestamp) would otherwise grow the map by one
// entry per request; once full, new values are only counted as "overflow".
type Counter struct {
	maxKeys  int
	counts   map[string]int
	overflow int
}

// NewCounter returns a Counter that tracks up to maxKeys distinct values.
func NewCounter(maxKeys int) *Counter {
	return &Counter{maxKeys: maxKeys, counts: make(map[string]int)}
}

// Add counts value n times.
func (c *Counter) Add(value string, n int) {
	if _, ok := c.counts[value]; ok || len(c.counts) < c.maxKeys {
		c.counts[value] += n
		return
	}
	c.overflow += n
}

// Merge adds all counts of o into c. Each worker keeps its own Counter (no
// locking on the hot path) and they are merged once at the end.
func (c *Counter) Merge(o *Counter) {
	for v, n := range o.counts {
		c.Add(v, n)
	}
	c.overflow += o.overflow
}

// Top returns the k most frequent values (ties broken by value so output is
// stable) and the total count of everything else, overflow included.
func (c *Counter) Top(k int) (top []Count, other int) {
	all := make([]Count, 0, len(c.counts))
	for v, n := range c.counts {
		all = append(all, Count{v, n})
	}
	slices.SortFunc(all, func(a, b Count) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Value, b.Value))
	})
	other = c.overflow
	if len(all) > k {
		for _, x := range all[k:] {
			other += x.Count
		}
		all = all[:k]
	}
	return all, other
}
