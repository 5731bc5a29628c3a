package cacheaside

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	cache      *prometheus.CounterVec
	leaseWaits *prometheus.CounterVec
	shared     prometheus.Counter
	fenceWait  prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scalelab_api_cache_requests_total",
			Help: "Cache operations by operation (get, lease, fill, set, invalidate) and result (hit, miss, negative_hit, bypass, stored, refused, ok, error).",
		}, []string{"op", "result"}),
		leaseWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scalelab_api_cache_lease_waits_total",
			Help: "Misses that found another reader's lease and waited, by outcome (filled: the value arrived; released: the lease went without a value, so the waiter took it; timeout: read the shard).",
		}, []string{"outcome"}),
		shared: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scalelab_api_singleflight_shared_total",
			Help: "Misses that shared another request's load on the same replica instead of starting their own.",
		}),
		fenceWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "scalelab_api_cache_fence_wait_seconds",
			Help:    "How long writes whose invalidation failed waited for the cache trust to run out before answering.",
			Buckets: []float64{.1, .25, .5, 1, 2, 5},
		}),
	}
	reg.MustRegister(m.cache, m.leaseWaits, m.shared, m.fenceWait)
	return m
}
