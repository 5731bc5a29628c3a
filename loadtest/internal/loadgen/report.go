package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"scalelab/loadtest/internal/stats"
)

// Report is what a run saw. It is printed as text, or as JSON with -json.
type Report struct {
	Scenario    string   `json:"scenario,omitempty"`
	Mode        string   `json:"mode"`              // "closed" or "open"
	Rate        int      `json:"rate,omitempty"`    // open loop: requests per second asked for
	Concurrency int      `json:"concurrency"`       // closed: workers; open: most in flight
	Targets     []string `json:"targets,omitempty"` // with a scenario
	Method      string   `json:"method,omitempty"`  // with -url
	URLs        []string `json:"urls,omitempty"`    // with -url
	IDs         string   `json:"ids,omitempty"`
	Zipf        float64  `json:"zipf,omitempty"`

	Requested int    `json:"requested"` // -n
	Requests  int    `json:"requests"`  // completed, failures included
	Stopped   string `json:"stopped"`   // "completed", "duration" or "interrupted"

	// Errors = TransportErrors + 4xx + 5xx. A transport error means no HTTP
	// response at all (refused, reset, timeout); the status classes below
	// only count real responses.
	Errors          int            `json:"errors"`
	TransportErrors int            `json:"transport_errors"`
	Status          map[string]int `json:"status"`

	ElapsedSec    float64 `json:"elapsed_s"`
	Throughput    float64 `json:"throughput_rps"` // completed requests per second
	LatencyMillis Latency `json:"latency_ms"`     // responses only
	// Histogram is the latency distribution (responses only) in buckets of
	// a 1-2-5 series, from the HDR histogram the percentiles come from.
	Histogram []Bucket `json:"histogram_ms"`

	Steps   map[string]StepReport `json:"steps"`  // by step name (read, write, ...)
	Series  []Second              `json:"series"` // one entry per second, by send time
	Headers map[string]Values     `json:"headers"`

	ErrorCauses []stats.Count `json:"error_causes,omitempty"` // most common transport errors
}

// Latency holds percentiles in milliseconds (JSON-friendly, unlike time.Duration's nanoseconds).
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Bucket counts the responses slower than the previous bucket's LE and at
// most LE milliseconds.
type Bucket struct {
	LE    float64 `json:"le"`
	Count int64   `json:"count"`
}

// StepReport is one step of a scenario.
type StepReport struct {
	Requests      int            `json:"requests"`
	Errors        int            `json:"errors"`
	Status        map[string]int `json:"status"`
	LatencyMillis Latency        `json:"latency_ms"`
}

// Second is one second of the run (requests by the second they were sent in).
type Second struct {
	T             int                       `json:"t"` // seconds since the start
	Requests      int                       `json:"requests"`
	Errors        int                       `json:"errors"`
	LatencyMillis Latency                   `json:"latency_ms"`
	Headers       map[string]map[string]int `json:"headers,omitempty"`
}

// Values are the most frequent values of one response header.
type Values struct {
	Top   []stats.Count `json:"top"`
	Other int           `json:"other,omitempty"` // everything outside Top
}

// Count returns how many responses carried value.
func (v Values) Count(value string) int {
	for _, c := range v.Top {
		if c.Value == value {
			return c.Count
		}
	}
	return 0
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{
		P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)), P99: ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max()), Mean: h.Mean() / 1000,
	}
}

// buckets folds the HDR histogram into a 1-2-5 series of upper bounds
// (0.1 ms ... 100 s), dropping empty buckets at both ends.
func buckets(h *hdrhistogram.Histogram) []Bucket {
	var bounds []float64
	for decade := 0.1; decade <= 1e5; decade *= 10 {
		bounds = append(bounds, decade, 2*decade, 5*decade)
	}
	out := make([]Bucket, len(bounds))
	for i, b := range bounds {
		out[i].LE = b
	}
	for _, bar := range h.Distribution() {
		if bar.Count == 0 {
			continue
		}
		ms := float64(bar.To) / 1000
		i, _ := slices.BinarySearchFunc(out, ms, func(b Bucket, v float64) int {
			switch {
			case b.LE < v:
				return -1
			case b.LE > v:
				return 1
			}
			return 0
		})
		out[min(i, len(out)-1)].Count += bar.Count
	}
	lo, hi := 0, len(out)
	for lo < hi && out[lo].Count == 0 {
		lo++
	}
	for hi > lo && out[hi-1].Count == 0 {
		hi--
	}
	return out[lo:hi]
}

func (r *recorder) report(cfg *Config, elapsed time.Duration, stopped string) *Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := &Report{
		Mode: "closed", Rate: cfg.Rate, Concurrency: cfg.Concurrency,
		Zipf: cfg.Zipf, Requested: cfg.N, Requests: r.total.requests, Stopped: stopped,
		Errors: r.total.errors(), TransportErrors: r.total.transportErrs, Status: r.total.status,
		ElapsedSec: elapsed.Seconds(), Throughput: float64(r.total.requests) / elapsed.Seconds(),
		LatencyMillis: latencyOf(r.total.hist), Histogram: buckets(r.total.hist),
		Steps: map[string]StepReport{}, Headers: map[string]Values{},
	}
	if cfg.Rate > 0 {
		rep.Mode = "open"
	}
	if cfg.Scenario != nil {
		rep.Scenario, rep.Targets = cfg.Scenario.Name, cfg.Targets
	} else {
		rep.Method, rep.URLs = cfg.Method, cfg.URLs
	}
	if cfg.IDs != nil {
		rep.IDs = cfg.IDs.String()
	}
	for name, o := range r.steps {
		rep.Steps[name] = StepReport{o.requests, o.errors(), o.status, latencyOf(o.hist)}
	}
	for i, s := range r.series {
		sec := Second{T: i, Requests: s.requests, Errors: s.errors(), LatencyMillis: latencyOf(s.hist),
			Headers: map[string]map[string]int{}}
		for h, c := range s.headers {
			top, _ := c.Top(maxPerSec)
			if len(top) == 1 && top[0].Value == "(none)" {
				continue
			}
			m := map[string]int{}
			for _, v := range top {
				m[v.Value] = v.Count
			}
			if len(m) > 0 {
				sec.Headers[h] = m
			}
		}
		rep.Series = append(rep.Series, sec)
	}
	for h, c := range r.headers {
		top, other := c.Top(topValues)
		rep.Headers[h] = Values{top, other}
	}
	rep.ErrorCauses, _ = r.errMsgs.Top(topErrors)
	return rep
}

// WriteText prints the report for humans.
func (r *Report) WriteText(w io.Writer) {
	target := r.Method + " " + strings.Join(r.URLs, ", ")
	if r.Scenario != "" {
		target = "scenario " + r.Scenario + " on " + strings.Join(r.Targets, ", ")
	}
	if r.IDs != "" {
		target += fmt.Sprintf("  ids %s", r.IDs)
		if r.Zipf > 0 {
			target += fmt.Sprintf(" zipf s=%g", r.Zipf)
		} else {
			target += " uniform"
		}
	}
	fmt.Fprintf(w, "target       %s\n", target)
	load := fmt.Sprintf("closed loop, c=%d", r.Concurrency)
	if r.Mode == "open" {
		load = fmt.Sprintf("open loop, %d/s asked, at most %d in flight", r.Rate, r.Concurrency)
	}
	fmt.Fprintf(w, "requests     %d in %.2fs, %s  =>  %.1f req/s\n", r.Requests, r.ElapsedSec, load, r.Throughput)
	if r.Stopped == "interrupted" {
		fmt.Fprintln(w, "stopped      interrupted")
	}
	fmt.Fprintf(w, "errors       %d  (transport %d, 4xx %d, 5xx %d)\n",
		r.Errors, r.TransportErrors, r.Status["4xx"], r.Status["5xx"])
	var classes []string
	for _, k := range slices.Sorted(maps.Keys(r.Status)) {
		classes = append(classes, fmt.Sprintf("%s=%d", k, r.Status[k]))
	}
	fmt.Fprintf(w, "status       %s\n", orNone(strings.Join(classes, "  ")))
	if len(r.Status) > 0 {
		fmt.Fprintf(w, "latency      %s\n", r.LatencyMillis)
	} else {
		fmt.Fprintln(w, "latency      - (no responses)")
	}
	if len(r.Steps) > 1 {
		for _, name := range slices.Sorted(maps.Keys(r.Steps)) {
			s := r.Steps[name]
			fmt.Fprintf(w, "  %-10s %d req, %d errors, %s\n", name, s.Requests, s.Errors, s.LatencyMillis)
		}
	}
	for _, h := range TrackedHeaders {
		v := r.Headers[h]
		var parts []string
		for _, c := range v.Top {
			parts = append(parts, fmt.Sprintf("%s=%d", c.Value, c.Count))
		}
		if v.Other > 0 {
			parts = append(parts, fmt.Sprintf("(other)=%d", v.Other))
		}
		fmt.Fprintf(w, "%-12s %s\n", h, orNone(strings.Join(parts, "  ")))
	}
	for _, c := range r.ErrorCauses {
		fmt.Fprintf(w, "transport    %dx %s\n", c.Count, c.Value)
	}
}

func (l Latency) String() string {
	return fmt.Sprintf("p50=%.2fms  p90=%.2fms  p99=%.2fms  p99.9=%.2fms  max=%.2fms", l.P50, l.P90, l.P99, l.P999, l.Max)
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
