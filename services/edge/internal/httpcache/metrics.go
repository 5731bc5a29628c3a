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
}

// Cache results, the values of the result label.
const (
	resultHit    = "hit"    // served from the store
	resultMiss   = "miss"   // looked up, absent or expired: asked the origin
	resultBypass = "bypass" // not a cacheable request (method, Authorization): went straight to the origin
)

// NewMetrics registers the scalelab_edge_* cache metrics on reg. The store's
// size, object count and evictions are read from st when Prometheus
// scrapes, so there is no second copy of those numbers to keep in step.
func NewMetrics(reg prometheus.Registerer, st *store.Store[*Entry]) *Metrics {
	const ns = "scalelab_edge"
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "cache_requests_total",
			Help: "Requests by cache result: hit (served from memory), miss (fetched from the origin), bypass (not cacheable, proxied).",
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
	for _, r := range []string{resultHit, resultMiss, resultBypass} {
		m.requests.WithLabelValues(r) // export zeros, so rate() works from the start
	}
	m.servedBytes.WithLabelValues("cache")
	m.servedBytes.WithLabelValues("origin")
	reg.MustRegister(m.requests, m.fetchDuration, m.servedBytes,
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
			Help: "Responses held by the cache.",
		}, func() float64 { return float64(st.Len()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: "cache_evictions_total",
			Help: "Responses evicted, least recently used first, to stay within EDGE_CACHE_BYTES.",
		}, func() float64 { return float64(st.Evictions()) }),
	)
	return m
}
