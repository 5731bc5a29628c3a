package forward

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/platform"
)

// Metrics are what both engines count, per backend and lb-wide. The backend label is host:port: bounded by the
// number of replicas, unlike a raw path or client address.
//
// Each backend's series are created when discovery adds it (Track) and
// deleted when discovery removes it, so a replica scaled away does not
// leave series behind. Requests hold the backend's series from the start,
// so one that finishes after its backend left updates series no longer
// exported instead of bringing them back.
type Metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	retries   *prometheus.CounterVec
	overhead  prometheus.Histogram
	exhausted prometheus.Counter
	limited   prometheus.Counter
	inFlight  *prometheus.Desc

	mu      sync.Mutex // serializes Track
	current atomic.Pointer[map[*balancer.Backend]*BackendMetrics]
}

// BackendMetrics are one backend's series, looked up once per try.
type BackendMetrics struct {
	requests [len(statusClasses)]prometheus.Counter
	duration prometheus.Observer
	retries  prometheus.Counter
}

// statusClasses are the values platform.StatusClass returns.
var statusClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx", "499", "other"}

func classIndex(status int) int {
	switch c := platform.StatusClass(status); c {
	case "499":
		return 5
	case "other":
		return 6
	default:
		return int(c[0] - '1')
	}
}

var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// NewMetrics registers the scalelab_lb_backend_* and scalelab_lb_proxy_*
// metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scalelab_lb_backend_requests_total",
			Help: "Tries forwarded, by backend and status class (499: client went away; 502/504 as 5xx are the balancer's own answers).",
		}, []string{"backend", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scalelab_lb_backend_request_duration_seconds",
			Help:    "Time from forwarding a try to the end of its response body, by backend.",
			Buckets: latencyBuckets,
		}, []string{"backend"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scalelab_lb_backend_retries_total",
			Help: "Tries that failed on this backend and were retried on another.",
		}, []string{"backend"}),
		overhead: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "scalelab_lb_proxy_overhead_seconds",
			Help: "Time a request spent in the lb outside any backend try: picking, rewriting, copying headers. " +
				"The lb's own cost, the same whichever backend serves, so it has no backend label.",
			Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .1},
		}),
		exhausted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scalelab_lb_retry_budget_exhausted_total",
			Help: "Retries not made because the retry budget (LB_RETRY_BUDGET_PERCENT) was spent.",
		}),
		limited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scalelab_lb_concurrency_limited_total",
			Help: "Requests answered 503 because their backend, and every other, had LB_MAX_REQUESTS_PER_BACKEND requests in flight.",
		}),
		inFlight: prometheus.NewDesc("scalelab_lb_backend_requests_in_flight",
			"Requests forwarded and not yet answered, by backend.", []string{"backend"}, nil),
	}
	empty := map[*balancer.Backend]*BackendMetrics{}
	m.current.Store(&empty)
	reg.MustRegister(m.requests, m.duration, m.retries, m.overhead, m.exhausted, m.limited, m)
	return m
}

// Track follows discovery (it is a discovery.WatchFunc).
func (m *Metrics) Track(_, added, removed []*balancer.Backend) {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := make(map[*balancer.Backend]*BackendMetrics, len(*m.current.Load())+len(added))
	for b, bm := range *m.current.Load() {
		next[b] = bm
	}
	for _, b := range added {
		bm := &BackendMetrics{
			duration: m.duration.WithLabelValues(b.Addr),
			retries:  m.retries.WithLabelValues(b.Addr),
		}
		for i, c := range statusClasses {
			bm.requests[i] = m.requests.WithLabelValues(b.Addr, c)
		}
		next[b] = bm
	}
	for _, b := range removed {
		delete(next, b)
		if sharesAddr(next, b.Addr) {
			continue // the same address in another pool still uses the series
		}
		m.requests.DeletePartialMatch(prometheus.Labels{"backend": b.Addr})
		m.duration.DeleteLabelValues(b.Addr)
		m.retries.DeleteLabelValues(b.Addr)
	}
	m.current.Store(&next)
}

func sharesAddr(tracked map[*balancer.Backend]*BackendMetrics, addr string) bool {
	for b := range tracked {
		if b.Addr == addr {
			return true
		}
	}
	return false
}

// detached are series registered nowhere, for a backend Track does not
// know (a test that skips discovery, or a backend removed as it was picked).
var detached = func() *BackendMetrics {
	bm := &BackendMetrics{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "detached"}),
		retries:  prometheus.NewCounter(prometheus.CounterOpts{Name: "detached"}),
	}
	for i := range bm.requests {
		bm.requests[i] = prometheus.NewCounter(prometheus.CounterOpts{Name: "detached"})
	}
	return bm
}()

// Of returns b's series.
func (m *Metrics) Of(b *balancer.Backend) *BackendMetrics {
	if bm := (*m.current.Load())[b]; bm != nil {
		return bm
	}
	return detached
}

// ObserveStatus counts one try by the status it ended with: the backend's,
// 502 or 504 for the lb's own answers, 499 when the client left.
func (bm *BackendMetrics) ObserveStatus(status int) { bm.requests[classIndex(status)].Inc() }

// ObserveDuration records how long a try took, from forwarding to the end
// of its response body.
func (bm *BackendMetrics) ObserveDuration(d time.Duration) { bm.duration.Observe(d.Seconds()) }

// ObserveStatus counts one try on b by the status it ended with.
func (m *Metrics) ObserveStatus(b *balancer.Backend, status int) { m.Of(b).ObserveStatus(status) }

// ObserveDuration records how long a try on b took.
func (m *Metrics) ObserveDuration(b *balancer.Backend, d time.Duration) { m.Of(b).ObserveDuration(d) }

// ObserveRetry counts a try that failed on b and is retried elsewhere.
func (m *Metrics) ObserveRetry(b *balancer.Backend) { m.Of(b).retries.Inc() }

// ObserveBudgetExhausted counts a retry not made for want of budget.
func (m *Metrics) ObserveBudgetExhausted() { m.exhausted.Inc() }

// ObserveOverhead records the time a request spent in the lb outside any try.
func (m *Metrics) ObserveOverhead(d time.Duration) { m.overhead.Observe(d.Seconds()) }

// ObserveLimited counts a request answered 503 because its backend, and
// every other, had LB_MAX_REQUESTS_PER_BACKEND requests in flight.
func (m *Metrics) ObserveLimited() { m.limited.Inc() }

// Describe implements prometheus.Collector for the in-flight gauge.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.inFlight }

// Collect reads in-flight counts from the backends at scrape time.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	// Summed by address: with routes, one address may be a backend of
	// several pools.
	byAddr := map[string]int64{}
	for b := range *m.current.Load() {
		byAddr[b.Addr] += b.InFlight()
	}
	for addr, n := range byAddr {
		ch <- prometheus.MustNewConstMetric(m.inFlight, prometheus.GaugeValue, float64(n), addr)
	}
}
