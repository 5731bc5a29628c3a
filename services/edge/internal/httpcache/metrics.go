package httpcache

import (
	"github.com/prometheus/client_golang/prometheus"

	"scalelab/services/edge/internal/store"
)

// Metrics are the edge's cache metrics. Labels are fixed small sets: a
// cache result, a status class, a byte source; never a path.
type Metrics struct {
	requests      *prometheus.CounterVec
	fetchDuration *prometheus.HistogramVec
	servedBytes   *prometheus.CounterVec
	originBytes   prometheus.Counter
	stale         *prometheus.CounterVec
	revalidations *prometheus.CounterVec
	collapsed     prometheus.Counter
	purged        *prometheus.CounterVec
	fillBudget    *prometheus.CounterVec

	// The series every plain hit adds to, looked up once.
	hits            prometheus.Counter
	servedFromCache prometheus.Counter
}

// Cache results, the values of the result label.
const (
	resultHit         = "hit"         // served fresh from the store
	resultMiss        = "miss"        // absent (or stale and refetched in full): asked the origin
	resultBypass      = "bypass"      // not a cacheable request (method, Authorization): went straight to the origin
	resultStale       = "stale"       // served stale: while revalidating, on an origin error, or as the client's max-stale allowed
	resultRevalidated = "revalidated" // stale, and the origin confirmed it with a 304
)

// Values of the reason label of stale answers.
const (
	staleWhileRevalidate = "while_revalidate"
	staleIfError         = "if_error"
	staleMaxStale        = "max_stale"
)

// NewMetrics registers the scalelab_edge_* cache metrics on reg. The store's
// size, object count and evictions are read from st when Prometheus
// scrapes, so there is no second copy of those numbers to keep in step.
func NewMetrics(reg prometheus.Registerer, st *store.Store[*Object]) *Metrics {
	const ns = "scalelab_edge"
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "cache_requests_total",
			Help: "Requests by cache result: hit (served fresh from memory), miss (fetched from the origin), bypass (not cacheable, proxied), stale (served past its lifetime), revalidated (stale, confirmed by a 304).",
		}, []string{"result"}),
		originBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "origin_received_bytes_total",
			Help: "Response body bytes received from the origin, whether stored or streamed through.",
		}),
		stale: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "stale_answers_total",
			Help: "Answers served stale, by reason: while_revalidate (RFC 5861), if_error (origin failed), max_stale (the client accepted it).",
		}, []string{"reason"}),
		revalidations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "revalidations_total",
			Help: "Conditional requests to the origin for stale entries, by result: not_modified (304, entry refreshed), modified (a new response), error (origin failed or timed out).",
		}, []string{"result"}),
		collapsed: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "collapsed_requests_total",
			Help: "Requests answered by another request's origin fetch instead of one of their own.",
		}),
		purged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "purged_objects_total",
			Help: "URLs removed from the cache (all their variants), by how: url, key (surrogate key), prefix, invalidation (an unsafe method's success).",
		}, []string{"how"}),
		fillBudget: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "fill_budget_total",
			Help: "Storable origin responses by whether the in-flight fill budget (EDGE_FILL_BYTES) had room: buffered, or streamed through unstored.",
		}, []string{"result"}),
		fetchDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Name: "origin_fetch_duration_seconds",
			Help:    "Time from starting an origin request (simulated ORIGIN_RTT included) to its response headers, by status class or \"error\".",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .2, .3, .5, 1, 2.5, 5, 10, 30},
		}, []string{"code"}),
		servedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "served_bytes_total",
			Help: "Response body bytes sent to clients, by where they came from: cache (a hit) or origin (a miss or bypass).",
		}, []string{"source"}),
	}
	for _, r := range []string{resultHit, resultMiss, resultBypass, resultStale, resultRevalidated} {
		m.requests.WithLabelValues(r) // export zeros, so rate() works from the start
	}
	for _, r := range []string{staleWhileRevalidate, staleIfError, staleMaxStale} {
		m.stale.WithLabelValues(r)
	}
	for _, r := range []string{"not_modified", "modified", "error"} {
		m.revalidations.WithLabelValues(r)
	}
	for _, r := range []string{"url", "key", "prefix", "invalidation"} {
		m.purged.WithLabelValues(r)
	}
	m.fillBudget.WithLabelValues("buffered")
	m.fillBudget.WithLabelValues("streamed")
	m.servedBytes.WithLabelValues("origin")
	m.hits = m.requests.WithLabelValues(resultHit)
	m.servedFromCache = m.servedBytes.WithLabelValues("cache")
	reg.MustRegister(m.requests, m.fetchDuration, m.servedBytes, m.originBytes, m.stale,
		m.revalidations, m.collapsed, m.purged, m.fillBudget,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "cache_stored_bytes",
			Help: "Bytes held by the cache (bodies plus approximate header and bookkeeping cost).",
		}, func() float64 { return float64(st.Bytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "cache_capacity_bytes",
			Help: "The cache's byte budget, EDGE_CACHE_BYTES.",
		}, func() float64 { return float64(st.MaxBytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: ns, Name: "cache_objects",
			Help: "URLs held by the cache (each with one or more variants).",
		}, func() float64 { return float64(st.Len()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "cache_evictions_total",
			Help: "URLs evicted (all their variants) to stay within EDGE_CACHE_BYTES, chosen by EDGE_CACHE_POLICY.",
		}, func() float64 { return float64(st.Evictions()) }),
	)
	return m
}
