package loadgen

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"scalelab/loadtest/internal/stats"
)

// TrackedHeaders are the response headers the lab's services set to show
// who answered: which edge/replica, whether the cache hit, which shard.
var TrackedHeaders = []string{"X-Served-By", "X-Cache", "X-Shard"}

const (
	topValues   = 20   // values shown per header
	maxDistinct = 1000 // values remembered per header (see stats.Counter)
	topErrors   = 5
)

var errDurationReached = errors.New("-duration reached")

// Run sends cfg.N requests using cfg.Concurrency workers and returns a report.
// It returns early (with a partial report) when cfg.Duration elapses or ctx
// is cancelled, e.g. on Ctrl-C. It only fails if cfg is invalid: request
// failures are results, not errors.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	workers := min(cfg.Concurrency, cfg.N)

	// One Transport shared by all workers, so connections are pooled and
	// reused (keep-alive) instead of paying a TCP handshake per request,
	// which would mostly measure the client. Clone the default to keep its
	// dial and TLS timeouts.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil                           // measure the stack, not an HTTP_PROXY from the environment
	tr.MaxIdleConns = 0                      // the default total cap (100) would throttle reuse at -c > 100
	tr.MaxIdleConnsPerHost = cfg.Concurrency // default is 2: workers 3..c would keep reconnecting
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		Timeout:   cfg.Timeout,
		// Report a 301/302 as what the server said instead of silently
		// following it and timing two requests as one.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	// The -duration cap stops *dispatching*. Requests already in flight are
	// not cancelled (they are bounded by -timeout), so the end of a run does
	// not show up as a burst of fake "context canceled" errors.
	runCtx, cancel := context.WithTimeoutCause(ctx, cfg.Duration, errDurationReached)
	defer cancel()

	var cdf []float64 // only needed for 0 < s <= 1, built once and shared read-only
	if cfg.IDs != nil && cfg.Zipf > 0 && cfg.Zipf <= 1 {
		cdf = zipfCDF(cfg.IDs.Size(), cfg.Zipf)
	}

	// Workers claim request numbers from a shared counter; that both bounds
	// the total at N and gives the round-robin index into cfg.URLs.
	var next atomic.Int64
	tallies := make([]*tally, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		t := newTally()
		tallies[w] = t
		var pickID func() int64
		if cfg.IDs != nil {
			pickID = newIDPicker(*cfg.IDs, cfg.Zipf, cdf)
		}
		wg.Go(func() {
			for runCtx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(cfg.N) {
					return
				}
				u := cfg.URLs[i%int64(len(cfg.URLs))]
				if pickID != nil {
					u = strings.ReplaceAll(u, "{id}", strconv.FormatInt(pickID(), 10))
				}
				t.do(client, &cfg, u)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	// Each worker recorded into its own tally (no locks while measuring);
	// merge them now.
	total := newTally()
	for _, t := range tallies {
		total.merge(t)
	}
	stopped := "completed"
	if total.requests < cfg.N {
		stopped = "interrupted"
		if context.Cause(runCtx) == errDurationReached {
			stopped = "duration"
		}
	}
	return total.report(&cfg, elapsed, stopped), nil
}

// tally is one worker's raw measurements.
type tally struct {
	requests      int
	transportErrs int
	status        map[string]int // "2xx" -> count
	latencies     []time.Duration
	headers       map[string]*stats.Counter
	errMsgs       *stats.Counter
}

func newTally() *tally {
	t := &tally{
		status:  map[string]int{},
		headers: map[string]*stats.Counter{},
		errMsgs: stats.NewCounter(maxDistinct),
	}
	for _, h := range TrackedHeaders {
		t.headers[h] = stats.NewCounter(maxDistinct)
	}
	return t
}

// do sends one request and records the outcome.
func (t *tally) do(client *http.Client, cfg *Config, target string) {
	var body io.Reader
	if cfg.Body != "" {
		body = strings.NewReader(cfg.Body)
	}
	t.requests++
	req, err := http.NewRequest(cfg.Method, target, body)
	if err != nil {
		t.fail(err)
		return
	}
	req.Header = cfg.Header.Clone() // never share a mutable map between goroutines
	if req.Header == nil {
		req.Header = http.Header{}
	}
	// Go's client ignores req.Header["Host"]; the Host header comes from req.Host.
	if h := req.Header.Get("Host"); h != "" {
		req.Host = h
	}

	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.fail(err)
		return
	}
	// Read the whole body: the latency should include it, and a connection
	// goes back to the idle pool only after its body is drained and closed.
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	latency := time.Since(start)
	if err != nil { // e.g. -timeout hit while the body was still streaming
		t.fail(err)
		return
	}

	// Only requests that got a full response count towards latency: a
	// refused connection fails in microseconds and would flatter the p50.
	t.latencies = append(t.latencies, latency)
	t.status[statusClass(resp.StatusCode)]++
	for _, h := range TrackedHeaders {
		v := resp.Header.Get(h)
		if v == "" {
			v = "(none)" // absence is information too: this hop doesn't set it
		}
		t.headers[h].Add(v, 1)
	}
}

func (t *tally) fail(err error) {
	t.transportErrs++
	// *url.Error embeds the URL, which contains the random {id}; strip it so
	// identical failures are counted together.
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	t.errMsgs.Add(err.Error(), 1)
}

func (t *tally) merge(o *tally) {
	t.requests += o.requests
	t.transportErrs += o.transportErrs
	for k, v := range o.status {
		t.status[k] += v
	}
	t.latencies = append(t.latencies, o.latencies...)
	for h, c := range o.headers {
		t.headers[h].Merge(c)
	}
	t.errMsgs.Merge(o.errMsgs)
}

func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}
