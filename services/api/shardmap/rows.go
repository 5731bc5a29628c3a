package shardmap

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// rowsCollector reports, at each scrape, the users rows on every shard of
// the replica's map and, while a reshard runs, of its target map: watching
// a reshard is watching rows arrive on the new shard and leave the old
// ones. It reads PostgreSQL's statistics (n_live_tup), not count(*): one
// cheap lookup per shard, close to the exact count once the server has
// flushed its statistics (within about a second). The shard is named by
// its server and database, which stay the same from one map to the next.
type rowsCollector struct {
	current func() Map
	target  atomic.Pointer[[]string]
	desc    *prometheus.Desc

	mu    sync.Mutex
	pools map[string]*pgxpool.Pool
}

func newRowsCollector(current func() Map) *rowsCollector {
	return &rowsCollector{current: current, pools: map[string]*pgxpool.Pool{},
		desc: prometheus.NewDesc("scalelab_reshard_shard_rows",
			"Users rows on each shard of the map and of a reshard's target map (PostgreSQL's live-tuple statistics).",
			[]string{"server"}, nil)}
}

// setTarget names the shards of the reshard in progress (nil: none).
func (c *rowsCollector) setTarget(dsns []string) { c.target.Store(&dsns) }

func (c *rowsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *rowsCollector) Collect(ch chan<- prometheus.Metric) {
	dsns := c.current().DSNs
	if t := c.target.Load(); t != nil {
		dsns = union(dsns, *t)
	}
	for _, dsn := range dsns {
		p, name, err := c.pool(dsn)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		var n int64
		err = p.QueryRow(ctx, `SELECT coalesce((SELECT n_live_tup FROM pg_stat_user_tables
			WHERE relname = 'users' AND schemaname = current_schema()), 0)`).Scan(&n)
		cancel()
		if err == nil {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), name)
		}
	}
}

// pool returns a one-connection pool to dsn and the shard's name.
func (c *rowsCollector) pool(dsn string) (*pgxpool.Pool, string, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, "", err
	}
	name := cfg.ConnConfig.Host + "/" + cfg.ConnConfig.Database
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pools[dsn]; ok {
		return p, name, nil
	}
	cfg.MaxConns = 1
	cfg.ConnConfig.ConnectTimeout = time.Second
	cfg.ConnConfig.RuntimeParams["application_name"] = "scalelab-api-rows"
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, "", err
	}
	c.pools[dsn] = p
	return p, name, nil
}
