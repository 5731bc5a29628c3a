// Package reshard moves the users tier from one shard map to another while
// the api serves it: copy the moving rows, catch up on the writes made
// meanwhile, verify every moved row against its copy, then pause writes for
// a short cut-over in which only the last changes are copied and checked
// and the map flipped, then remove the old copies (docs/sharding.md). Each phase is recorded in the catalog before it
// runs and every step can be run twice, so a reshard killed at any point
// ends in the same state when it is run again.
package reshard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"scalelab/services/api/shardmap"
)

// Engine reshards the tier whose map the catalog holds.
type Engine struct {
	catalog *pgxpool.Pool
	known   []string // every shard the operator named (SHARD_DSNS), idle ones too
	seed    shardmap.Map

	mu    sync.Mutex
	pools map[string]*pgxpool.Pool

	// Progress, if set, is told of each batch.
	Progress func(Progress)
	// Hook, if set, is called at named points ("copy", "catchup",
	// "verify-all" before each batch of the full verification, "freeze"
	// before the cut-over pauses writes, "verify" under the pause,
	// "flip", "release", "cleanup"); an error stops the run there, as a
	// crash would (tests use it to kill a run midway).
	Hook func(point string) error
	// Log receives one line per phase.
	Log io.Writer
	// Batch is the rows per copy step (default 2000).
	Batch int
	// Lease is how long the cut-over's write freeze outlives this run's
	// last renewal (default DefaultLease; see shardmap/lease.go).
	Lease time.Duration
}

// Progress is where a phase stands.
type Progress struct {
	Phase       string
	Done, Total int64
	Rate        float64 // rows per second in this run
}

// Open connects to the catalog (creating its tables, and seeding the map
// with seed if it holds none) and knows the shards in known.
func Open(ctx context.Context, catalogDSN string, known []string, seed shardmap.Map) (*Engine, error) {
	pool, err := newPool(catalogDSN)
	if err != nil {
		return nil, fmt.Errorf("SHARD_MAP_DSN: %v", err)
	}
	e := &Engine{catalog: pool, known: known, seed: seed, pools: map[string]*pgxpool.Pool{}, Log: io.Discard, Batch: 2000, Lease: DefaultLease}
	if err := shardmap.EnsureCatalog(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("catalog unreachable: %v", err)
	}
	return e, nil
}

// Close closes every connection.
func (e *Engine) Close() {
	e.catalog.Close()
	for _, p := range e.pools {
		p.Close()
	}
}

func newPool(dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 4
	cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	cfg.ConnConfig.RuntimeParams["application_name"] = "shardctl"
	// The copy's own writes must not fire the change trigger.
	cfg.ConnConfig.RuntimeParams["session_replication_role"] = "replica"
	return pgxpool.NewWithConfig(context.Background(), cfg)
}

func (e *Engine) pool(dsn string) (*pgxpool.Pool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.pools[dsn]; ok {
		return p, nil
	}
	p, err := newPool(dsn)
	if err != nil {
		return nil, err
	}
	e.pools[dsn] = p
	return p, nil
}

// Current returns the catalog's map, seeding it first with the seed given
// to Open, if any, when the catalog holds none.
func (e *Engine) Current(ctx context.Context) (shardmap.Map, error) {
	m, _, err := shardmap.Load(ctx, e.catalog)
	if errors.Is(err, shardmap.ErrNoMap) {
		if len(e.seed.DSNs) == 0 {
			return m, errors.New("the catalog holds no shard map yet: start the api, which seeds it from its SHARD_DSNS and SHARD_ROUTER")
		}
		return shardmap.Seed(ctx, e.catalog, e.seed)
	}
	return m, err
}

// State returns the latest reshard's record (shardmap.ErrNoReshard if none).
func (e *Engine) State(ctx context.Context) (shardmap.State, error) {
	return shardmap.LoadState(ctx, e.catalog)
}

// Target is the map after resharding cur to n shards with router (empty:
// cur's). The shards are cur's, in order, then the other known ones: growing
// adds known shards at the end, shrinking drops the last ones. It refuses,
// changing nothing, a count it cannot reach.
func (e *Engine) Target(cur shardmap.Map, n int, router string) (shardmap.Map, error) {
	if router == "" {
		router = cur.Router
	}
	if n < 1 {
		return shardmap.Map{}, fmt.Errorf("refusing --to %d: the tier needs at least 1 shard", n)
	}
	pool := slices.Clone(cur.DSNs)
	for _, d := range e.known {
		if !slices.Contains(pool, d) {
			pool = append(pool, d)
		}
	}
	if n > len(pool) {
		return shardmap.Map{}, fmt.Errorf("refusing --to %d: only %d shards are known (the map's %d and SHARD_DSNS); add the new shard's DSN to SHARD_DSNS", n, len(pool), len(cur.DSNs))
	}
	to := shardmap.Map{Version: cur.Version + 1, Router: router, DSNs: pool[:n]}
	if err := to.Validate(); err != nil {
		return shardmap.Map{}, fmt.Errorf("refusing: %v", err)
	}
	return to, nil
}

// Reachable checks that every shard of both maps answers, so that a reshard
// is refused before it changes anything rather than stopped midway.
func (e *Engine) Reachable(ctx context.Context, maps ...shardmap.Map) error {
	for _, d := range union(maps...) {
		p, err := e.pool(d)
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			err = p.Ping(pctx)
			cancel()
		}
		if err != nil {
			return fmt.Errorf("refusing: shard %s is unreachable: %v", shardmap.Redact(d), err)
		}
	}
	return nil
}

// union lists the DSNs of the maps, each once, in order.
func union(maps ...shardmap.Map) []string {
	var out []string
	for _, m := range maps {
		for _, d := range m.DSNs {
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	return out
}

// Describe names a map's shards without credentials.
func Describe(m shardmap.Map) string {
	names := make([]string, len(m.DSNs))
	for i, d := range m.DSNs {
		names[i] = fmt.Sprintf("%d=%s", i, shardmap.Redact(d))
	}
	return m.Describe() + " [" + strings.Join(names, " ") + "]"
}

func (e *Engine) logf(format string, args ...any) {
	fmt.Fprintf(e.Log, format+"\n", args...)
}

func (e *Engine) hook(point string) error {
	if e.Hook == nil {
		return nil
	}
	return e.Hook(point)
}
