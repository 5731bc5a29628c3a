package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"scalelab/loadtest/internal/stats"
)

// Report is what a run saw. It is printed as text, or as JSON with -json.
type Report struct {
	Method      string   `json:"method"`
	URLs        []string `json:"urls"`
	IDs         string   `json:"ids,omitempty"`
	Zipf        float64  `json:"zipf,omitempty"`
	Concurrency int      `json:"concurrency"`

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

	Headers     map[string]Values `json:"headers"`
	ErrorCauses []stats.Count     `json:"error_causes,omitempty"` // most common transport errors
}

// Latency holds percentiles in milliseconds (JSON-friendly, unlike time.Duration's nanoseconds).
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Values are the most frequent values of one response header.
type Values struct {
	Top   []stats.Count `json:"top"`
	Other int           `json:"other,omitempty"` // everything outside Top
}

func (t *tally) report(cfg *Config, elapsed time.Duration, stopped string) *Report {
	s := stats.Summarize(t.latencies)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	r := &Report{
		Method:          cfg.Method,
		URLs:            cfg.URLs,
		Zipf:            cfg.Zipf,
		Concurrency:     cfg.Concurrency,
		Requested:       cfg.N,
		Requests:        t.requests,
		Stopped:         stopped,
		Errors:          t.transportErrs + t.status["4xx"] + t.status["5xx"],
		TransportErrors: t.transportErrs,
		Status:          t.status,
		ElapsedSec:      elapsed.Seconds(),
		Throughput:      float64(t.requests) / elapsed.Seconds(),
		LatencyMillis:   Latency{ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max)},
		Headers:         map[string]Values{},
	}
	if cfg.IDs != nil {
		r.IDs = cfg.IDs.String()
	}
	for h, c := range t.headers {
		top, other := c.Top(topValues)
		r.Headers[h] = Values{top, other}
	}
	r.ErrorCauses, _ = t.errMsgs.Top(topErrors)
	return r
}

// WriteText prints the report for humans.
func (r *Report) WriteText(w io.Writer) {
	target := r.Method + " " + strings.Join(r.URLs, ", ")
	if r.IDs != "" {
		target += fmt.Sprintf("  ids %s", r.IDs)
		if r.Zipf > 0 {
			target += fmt.Sprintf(" zipf s=%g", r.Zipf)
		} else {
			target += " uniform"
		}
	}
	fmt.Fprintf(w, "target       %s\n", target)
	fmt.Fprintf(w, "requests     %d/%d in %.2fs, c=%d  =>  %.1f req/s\n",
		r.Requests, r.Requested, r.ElapsedSec, r.Concurrency, r.Throughput)
	switch r.Stopped {
	case "duration":
		fmt.Fprintln(w, "stopped      -duration reached before -n requests were sent")
	case "interrupted":
		fmt.Fprintln(w, "stopped      interrupted")
	}
	fmt.Fprintf(w, "errors       %d  (transport %d, 4xx %d, 5xx %d)\n",
		r.Errors, r.TransportErrors, r.Status["4xx"], r.Status["5xx"])

	var classes []string
	for _, k := range slices.Sorted(maps.Keys(r.Status)) {
		classes = append(classes, fmt.Sprintf("%s=%d", k, r.Status[k]))
	}
	fmt.Fprintf(w, "status       %s\n", orNone(strings.Join(classes, "  ")))
	if l := r.LatencyMillis; len(r.Status) > 0 {
		fmt.Fprintf(w, "latency      p50=%s  p90=%s  p99=%s  max=%s\n", fmtMS(l.P50), fmtMS(l.P90), fmtMS(l.P99), fmtMS(l.Max))
	} else {
		fmt.Fprintln(w, "latency      - (no responses)")
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

func fmtMS(v float64) string { return fmt.Sprintf("%.2fms", v) }

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
