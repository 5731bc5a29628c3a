package store

import (
	"context"
	"errors"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"
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

// Warm opens the pools of the shards in dsns that the current map does not
// use and dials up to n connections in each (at most the pool's size), then
// leaves them idle in the pool. A replica calls it when a reshard is under
// way: right after the flip every request for a moved user reaches the new
// shard at once, and each would otherwise dial its own connection within
// its query timeout, on a machine busy with the reshard. The new map's view
// reuses these pools (newView).
func (s *Store) Warm(ctx context.Context, dsns []string, n int) error {
	var errs []error
	for _, dsn := range dsns {
		p, fresh, err := s.idlePool(dsn)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !fresh {
			continue // in use by the current map: its connections are open
		}
		held := make([]*pgxpool.Conn, 0, n)
		for range min(n, int(p.Config().MaxConns)) {
			c, err := p.Acquire(ctx)
			if err != nil {
				errs = append(errs, err)
				break
			}
			held = append(held, c)
		}
		for _, c := range held {
			c.Release()
		}
	}
	return errors.Join(errs...)
}

// idlePool returns the pool of dsn, opening it if need be, and whether the
// current map leaves it unused.
func (s *Store) idlePool(dsn string) (*pgxpool.Pool, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.serverLocked(dsn)
	if err != nil {
		return nil, false, err
	}
	return p, !slices.Contains(s.View().pools, p), nil
}
