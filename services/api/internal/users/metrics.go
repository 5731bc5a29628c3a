package users

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	cache      *prometheus.CounterVec
	leaseWaits *prometheus.CounterVec
	shared     prometheus.Counter
	pending    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scalelab_api_cache_requests_total",
			Help: "Cache operations by operation (get, lease, fill, set, invalidate) and result (hit, miss, negative_hit, bypass, stored, refused, ok, error).",
		}, []string{"op", "result"}),
		leaseWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scalelab_api_cache_lease_waits_total",
			Help: "Misses that found another reader's lease and waited, by outcome (filled: the value arrived; timeout: read the shard).",
		}, []string{"outcome"}),
		shared: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scalelab_api_singleflight_shared_total",
			Help: "Misses that shared another request's load on the same replica instead of starting their own.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "scalelab_api_cache_pending_invalidations",
			Help: "Invalidations waiting for Redis to answer; while above 0 the replica reads only from the shards.",
		}),
	}
	reg.MustRegister(m.cache, m.leaseWaits, m.shared, m.pending)
	return m
}
