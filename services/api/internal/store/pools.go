package store

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector exports each shard pool's saturation at scrape time: a pool
// whose acquired connections sit at its maximum, with waits growing, is the
// shard being the bottleneck. Shards are those of the current map.
type poolCollector struct{ store *Store }

var (
	poolConns = prometheus.NewDesc("scalelab_api_db_pool_connections", "Connections of each shard's pool, by state (acquired, idle).", []string{"shard", "state"}, nil)
	poolWaits = prometheus.NewDesc("scalelab_api_db_pool_acquire_waits_total", "Acquires that had to wait for a free connection, by shard.", []string{"shard"}, nil)
	poolMax   = prometheus.NewDesc("scalelab_api_db_pool_max_connections", "Size limit of each shard's pool (DB_MAX_CONNS).", []string{"shard"}, nil)
)

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolConns
	ch <- poolWaits
	ch <- poolMax
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	for i, p := range c.store.View().pools {
		st, shard := p.Stat(), strconv.Itoa(i)
		ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(st.AcquiredConns()), shard, "acquired")
		ch <- prometheus.MustNewConstMetric(poolConns, prometheus.GaugeValue, float64(st.IdleConns()), shard, "idle")
		ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(st.EmptyAcquireCount()), shard)
		ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(st.MaxConns()), shard)
	}
}
