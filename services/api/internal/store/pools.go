package store

import (
	"context"
	"errors"
	"fmt"
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
		errs = append(errs, holdAll(ctx, p, n, nil))
	}
	return errors.Join(errs...)
}

// WarmPools opens every connection of each shard pool of the current map
// and runs the user read once on each, before the replica calls itself
// ready. A new server process costs its first query dearly (it loads the
// catalog entries and plans the statement), and a replica that has just
// started may be hit by every read at once: when Redis stalls right after
// a deploy, the shards took each replica's reads on fresh connections and
// a few missed DB_TIMEOUT while the servers were busy starting them.
func (s *Store) WarmPools(ctx context.Context) error {
	var errs []error
	for i, p := range s.View().pools {
		err := holdAll(ctx, p, int(p.Config().MaxConns), func(c *pgxpool.Conn) error {
			var n nullUser
			var minVersion, seq int64
			return c.QueryRow(ctx, getSQL, int64(0)).Scan(append([]any{&minVersion, &seq}, n.dest()...)...)
		})
		if err != nil {
			errs = append(errs, &ShardError{Shard: i, Err: fmt.Errorf("warm its connections: %w", err)})
		}
	}
	return errors.Join(errs...)
}

// holdAll acquires n connections of p (at most its size) and holds them
// all at once, so that n are open, running each, if not nil, on every one;
// then it gives them back to the pool, idle.
func holdAll(ctx context.Context, p *pgxpool.Pool, n int, each func(*pgxpool.Conn) error) error {
	held := make([]*pgxpool.Conn, 0, n)
	defer func() {
		for _, c := range held {
			c.Release()
		}
	}()
	for range min(n, int(p.Config().MaxConns)) {
		c, err := p.Acquire(ctx)
		if err != nil {
			return err
		}
		held = append(held, c)
		if each != nil {
			if err := each(c); err != nil {
				return err
			}
		}
	}
	return nil
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
