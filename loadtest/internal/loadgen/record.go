package loadgen

import (
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"scalelab/loadtest/internal/stats"
)

// TrackedHeaders are the response headers the lab's services set to show
// who answered: which edge/replica, whether the cache hit, which shard.
var TrackedHeaders = []string{"X-Served-By", "X-Cache", "X-Shard"}

const (
	topValues   = 20   // values shown per header
	maxDistinct = 1000 // values remembered per header (see stats.Counter)
	maxPerSec   = 32   // values remembered per header per second of the series
	topErrors   = 5
)

// Latencies are recorded in microseconds from 1 µs to 5 min with three
// significant digits (HDR: 0.1% error at any magnitude, fixed memory,
// unlike keeping every sample).
func newHist(digits int) *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(5*time.Minute/time.Microsecond), digits)
}

// outcome is what one step (or the whole run) saw.
type outcome struct {
	requests, transportErrs int
	status                  map[string]int
	hist                    *hdrhistogram.Histogram
}

func newOutcome(digits int) *outcome {
	return &outcome{status: map[string]int{}, hist: newHist(digits)}
}

func (o *outcome) add(r *vegeta.Result) {
	o.requests++
	if r.Code == 0 {
		o.transportErrs++
		return
	}
	o.status[statusClass(int(r.Code))]++
	// Only requests that got a full response count towards latency: a
	// refused connection fails in microseconds and would flatter the p50.
	o.hist.RecordValue(max(1, r.Latency.Microseconds()))
}

func (o *outcome) errors() int { return o.transportErrs + o.status["4xx"] + o.status["5xx"] }

// second is one second of the series.
type second struct {
	*outcome
	headers map[string]*stats.Counter
}

// recorder folds vegeta's results into totals, per-step totals and the
// per-second series. One goroutine writes (the collector); the progress
// line reads a snapshot under the lock.
type recorder struct {
	mu      sync.Mutex
	start   time.Time
	total   *outcome
	steps   map[string]*outcome
	series  []*second
	headers map[string]*stats.Counter
	errMsgs *stats.Counter
}

func newRecorder(start time.Time) *recorder {
	r := &recorder{
		start:   start,
		total:   newOutcome(3),
		steps:   map[string]*outcome{},
		headers: map[string]*stats.Counter{},
		errMsgs: stats.NewCounter(maxDistinct),
	}
	for _, h := range TrackedHeaders {
		r.headers[h] = stats.NewCounter(maxDistinct)
	}
	return r
}

func (r *recorder) add(res *vegeta.Result) {
	step, _ := stepOf(res.URL)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total.add(res)
	so := r.steps[step]
	if so == nil {
		so = newOutcome(3)
		r.steps[step] = so
	}
	so.add(res)

	// The series is indexed by when the request was sent, so a slow second
	// shows up where the slow requests began.
	sec := max(0, int(res.Timestamp.Sub(r.start)/time.Second))
	for len(r.series) <= sec {
		s := &second{outcome: newOutcome(2), headers: map[string]*stats.Counter{}}
		for _, h := range TrackedHeaders {
			s.headers[h] = stats.NewCounter(maxPerSec)
		}
		r.series = append(r.series, s)
	}
	r.series[sec].add(res)

	if res.Code == 0 {
		r.errMsgs.Add(cleanError(res.Error), 1)
		return
	}
	for _, h := range TrackedHeaders {
		v := res.Headers.Get(h)
		if v == "" {
			v = "(none)" // absence is information too: this hop doesn't set it
		}
		r.headers[h].Add(v, 1)
		r.series[sec].headers[h].Add(v, 1)
	}
}

// cleanError strips the URL (with its random {id}) from a transport error,
// so identical failures are counted together.
func cleanError(msg string) string {
	// vegeta hands over the text of the *url.Error: `Get "http://…": cause`.
	for _, verb := range []string{"Get ", "Put ", "Post ", "Delete ", "Head ", "Patch "} {
		if len(msg) > len(verb) && msg[:len(verb)] == verb {
			if i := indexAfterQuote(msg[len(verb):]); i >= 0 {
				return msg[len(verb)+i:]
			}
		}
	}
	return msg
}

// indexAfterQuote finds the end of the quoted URL in `"http://…": cause`.
func indexAfterQuote(s string) int {
	if len(s) == 0 || s[0] != '"' {
		return -1
	}
	for i := 1; i < len(s); i++ {
		if s[i] == '"' {
			if i+2 < len(s) && s[i+1] == ':' {
				return i + 3
			}
			return i + 1
		}
	}
	return -1
}

func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}
