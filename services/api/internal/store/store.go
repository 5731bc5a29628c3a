// Package store keeps users in PostgreSQL, one connection pool per shard.
package store

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"scalelab/services/api/internal/shard"
)

//go:embed schema.sql
var Schema string

// User is the record every shard holds.
type User struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Version   int64     `json:"version"`
}

// ErrNotFound means the shard holds no user with that id.
var ErrNotFound = errors.New("user not found")

// ShardError says which shard failed, so the api can name it to the client.
type ShardError struct {
	Shard int
	Err   error
}

func (e *ShardError) Error() string { return fmt.Sprintf("shard %d: %v", e.Shard, e.Err) }
func (e *ShardError) Unwrap() error { return e.Err }

// Options bound each shard's pool so that a slow shard cannot pile up work.
type Options struct {
	MaxConns     int32
	QueryTimeout time.Duration // also set as the server's statement_timeout
}

// Store routes each user to its shard's pool.
type Store struct {
	pools   []*pgxpool.Pool
	router  shard.Router
	timeout time.Duration
	queries *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

// Open creates one lazy pool per DSN, in shard order. Nothing is dialled
// until first use, so a shard that is down at start only fails its own ids.
func Open(dsns []string, router shard.Router, opts Options, reg prometheus.Registerer) (*Store, error) {
	s := &Store{
		router:  router,
		timeout: opts.QueryTimeout,
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scalelab_api_db_queries_total", Help: "Queries by shard, operation and outcome.",
		}, []string{"shard", "op", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "scalelab_api_db_query_duration_seconds", Help: "Query latency by shard and operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"shard", "op"}),
	}
	for i, dsn := range dsns {
		pool, err := NewPool(dsn, opts)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("SHARD_DSNS: shard %d: %v", i, err)
		}
		s.pools = append(s.pools, pool)
	}
	if reg != nil {
		reg.MustRegister(s.queries, s.latency, newPoolCollector(s.pools))
	}
	return s, nil
}

// NewPool opens a lazy, bounded pool to one PostgreSQL server: nothing is
// dialled until first use, a dead server costs a connect at most 2 s (not
// the kernel's minutes-long TCP timeout), and the server itself cancels any
// statement running past QueryTimeout.
func NewPool(dsn string, opts Options) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	cfg.ConnConfig.ConnectTimeout = 2 * time.Second
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(opts.QueryTimeout.Milliseconds(), 10)
	cfg.ConnConfig.RuntimeParams["application_name"] = "scalelab-api"
	return pgxpool.NewWithConfig(context.Background(), cfg)
}

// Close closes every pool.
func (s *Store) Close() {
	for _, p := range s.pools {
		p.Close()
	}
}

// ShardOf returns the shard that holds id.
func (s *Store) ShardOf(id int64) int { return s.router.Shard(strconv.FormatInt(id, 10)) }

// Shards returns the number of shards.
func (s *Store) Shards() int { return len(s.pools) }

// Ping checks that shard i answers.
func (s *Store) Ping(ctx context.Context, i int) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.pools[i].Ping(ctx)
}

// observe times one query on a shard and wraps its error with the shard.
func (s *Store) observe(shardID int, op string, start time.Time, err error) error {
	label := strconv.Itoa(shardID)
	s.latency.WithLabelValues(label, op).Observe(time.Since(start).Seconds())
	outcome := "ok"
	switch {
	case errors.Is(err, ErrNotFound):
		outcome = "not_found"
	case err != nil:
		outcome = "error"
	}
	s.queries.WithLabelValues(label, op, outcome).Inc()
	if err != nil && !errors.Is(err, ErrNotFound) {
		return &ShardError{Shard: shardID, Err: err}
	}
	return err
}

// Get reads one user from its shard. When there is none it returns
// ErrNotFound and, as version, a number at least as high as the version of
// any write already committed on the shard (the sequence's last value): the
// version under which "absent" may be cached.
func (s *Store) Get(ctx context.Context, id int64) (User, int64, error) {
	return s.GetFrom(ctx, s.ShardOf(id), id)
}

// GetFrom is Get from a shard the caller has already looked up (a cached
// read needs the shard for its trust key too, and computes it once).
func (s *Store) GetFrom(ctx context.Context, sh int, id int64) (User, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	var u User
	var uid *int64
	var name, email *string
	var created, updated *time.Time
	var version *int64
	var seq int64
	err := s.pools[sh].QueryRow(ctx, `
		SELECT u.id, u.name, u.email, u.created_at, u.updated_at, u.version, s.last_value
		FROM (SELECT last_value FROM users_version_seq) s LEFT JOIN users u ON u.id = $1`, id,
	).Scan(&uid, &name, &email, &created, &updated, &version, &seq)
	if err == nil && uid == nil {
		return User{}, seq, s.observe(sh, "get", start, ErrNotFound)
	}
	if err == nil {
		u = User{ID: *uid, Name: *name, CreatedAt: *created, UpdatedAt: *updated, Version: *version}
		if email != nil {
			u.Email = *email
		}
	}
	return u, u.Version, s.observe(sh, "get", start, err)
}

// Put creates or replaces a user on its shard and reports whether it was
// created.
func (s *Store) Put(ctx context.Context, u User) (User, bool, error) {
	sh := s.ShardOf(u.ID)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	var email *string
	if u.Email != "" {
		email = &u.Email
	}
	// xmax is 0 on a freshly inserted row version: the cheapest way to tell
	// an insert from an update in one round trip.
	row := s.pools[sh].QueryRow(ctx, `
		INSERT INTO users (id, name, email) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email,
			updated_at = now(), version = nextval('users_version_seq')
		RETURNING id, name, email, created_at, updated_at, version, (xmax = 0)`, u.ID, u.Name, email)
	var created bool
	stored, err := scanUser(row, &created)
	return stored, created, s.observe(sh, "put", start, err)
}

// Delete removes a user from its shard. It returns the version of the
// deletion: later than any write before it, earlier than any after.
func (s *Store) Delete(ctx context.Context, id int64) (int64, error) {
	sh := s.ShardOf(id)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	var version int64
	err := s.pools[sh].QueryRow(ctx,
		`DELETE FROM users WHERE id = $1 RETURNING nextval('users_version_seq')`, id).Scan(&version)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	return version, s.observe(sh, "delete", start, err)
}

// Invalidation is a cache entry a write failed to remove from Redis.
type Invalidation struct {
	UserID, Version int64
}

// QueueInvalidation records, on the user's shard, that the cache entry of
// a committed write could not be removed.
func (s *Store) QueueInvalidation(ctx context.Context, inv Invalidation) error {
	sh := s.ShardOf(inv.UserID)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	_, err := s.pools[sh].Exec(ctx,
		`INSERT INTO cache_outbox (user_id, version) VALUES ($1, $2) ON CONFLICT DO NOTHING`, inv.UserID, inv.Version)
	return s.observe(sh, "outbox_queue", start, err)
}

// PendingInvalidations returns up to limit queued invalidations of a shard,
// oldest first; none means the shard's cache entries can all be trusted.
func (s *Store) PendingInvalidations(ctx context.Context, shardID, limit int) ([]Invalidation, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	rows, _ := s.pools[shardID].Query(ctx,
		`SELECT user_id, version FROM cache_outbox ORDER BY queued_at LIMIT $1`, limit)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Invalidation, error) {
		var inv Invalidation
		return inv, row.Scan(&inv.UserID, &inv.Version)
	})
	return out, s.observe(shardID, "outbox_list", start, err)
}

// DoneInvalidation removes an invalidation that has reached Redis.
func (s *Store) DoneInvalidation(ctx context.Context, inv Invalidation) error {
	sh := s.ShardOf(inv.UserID)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	_, err := s.pools[sh].Exec(ctx,
		`DELETE FROM cache_outbox WHERE user_id = $1 AND version = $2`, inv.UserID, inv.Version)
	return s.observe(sh, "outbox_done", start, err)
}

// scanUser reads the user columns, in the order every query above selects
// them, and any extra columns into extra.
func scanUser(row pgx.Row, extra ...any) (User, error) {
	var u User
	var email *string
	err := row.Scan(append([]any{&u.ID, &u.Name, &email, &u.CreatedAt, &u.UpdatedAt, &u.Version}, extra...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if email != nil {
		u.Email = *email
	}
	return u, err
}

// Migrate applies the schema to every shard; it is idempotent. Replicas
// starting together may race on CREATE TABLE IF NOT EXISTS (PostgreSQL can
// then fail one with a duplicate pg_type key); the caller retries.
func (s *Store) Migrate(ctx context.Context) error {
	for i, p := range s.pools {
		if _, err := p.Exec(ctx, Schema); err != nil {
			return &ShardError{Shard: i, Err: fmt.Errorf("apply schema: %w", err)}
		}
	}
	return nil
}

// Seed makes sure users 1..n exist, each on the shard the router names.
// Existing rows are left alone, so every replica may run it at every start.
func (s *Store) Seed(ctx context.Context, n int) error {
	ids := make([][]int64, len(s.pools))
	names := make([][]string, len(s.pools))
	for id := int64(1); id <= int64(n); id++ {
		sh := s.ShardOf(id)
		ids[sh] = append(ids[sh], id)
		names[sh] = append(names[sh], seedName(id))
	}
	// Batches keep each statement well inside the statement timeout.
	const batch = 5000
	for i, p := range s.pools {
		for lo := 0; lo < len(ids[i]); lo += batch {
			hi := min(lo+batch, len(ids[i]))
			if _, err := p.Exec(ctx, `
				INSERT INTO users (id, name) SELECT * FROM unnest($1::bigint[], $2::text[])
				ON CONFLICT (id) DO NOTHING`, ids[i][lo:hi], names[i][lo:hi]); err != nil {
				return &ShardError{Shard: i, Err: fmt.Errorf("seed: %w", err)}
			}
		}
	}
	return nil
}

var firstNames = []string{"Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Radia", "Leslie", "Frances", "John"}

func seedName(id int64) string {
	return firstNames[id%int64(len(firstNames))] + " #" + strconv.FormatInt(id, 10)
}

// GetMany reads the users with the given ids from one shard, in one query.
// Ids that are absent are simply not in the result.
func (s *Store) GetMany(ctx context.Context, shardID int, ids []int64) ([]User, error) {
	return s.queryUsers(ctx, shardID, "get_many",
		`SELECT id, name, email, created_at, updated_at, version FROM users WHERE id = ANY($1)`, ids)
}

// Page reads up to limit users with ids above after from one shard, in id
// order. Listing users has no shard key, so a page asks every shard for one
// (scatter) and merges their answers (gather).
func (s *Store) Page(ctx context.Context, shardID int, after int64, limit int) ([]User, error) {
	return s.queryUsers(ctx, shardID, "page",
		`SELECT id, name, email, created_at, updated_at, version FROM users WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
}

// queryUsers runs a query returning user rows on one shard, bounded and
// observed like every other.
func (s *Store) queryUsers(ctx context.Context, shardID int, op, sql string, args ...any) ([]User, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	rows, err := s.pools[shardID].Query(ctx, sql, args...)
	var users []User
	if err == nil {
		users, err = collectUsers(rows)
	}
	return users, s.observe(shardID, op, start, err)
}

func collectUsers(rows pgx.Rows) ([]User, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (User, error) { return scanUser(row) })
}

// poolCollector exports each shard pool's saturation at scrape time: a pool
// whose acquired connections sit at its maximum, with waits growing, is the
// shard being the bottleneck.
type poolCollector struct {
	pools []*pgxpool.Pool
	conns *prometheus.Desc
	waits *prometheus.Desc
	max   *prometheus.Desc
}

func newPoolCollector(pools []*pgxpool.Pool) *poolCollector {
	return &poolCollector{
		pools: pools,
		conns: prometheus.NewDesc("scalelab_api_db_pool_connections", "Connections of each shard's pool, by state (acquired, idle).", []string{"shard", "state"}, nil),
		waits: prometheus.NewDesc("scalelab_api_db_pool_acquire_waits_total", "Acquires that had to wait for a free connection, by shard.", []string{"shard"}, nil),
		max:   prometheus.NewDesc("scalelab_api_db_pool_max_connections", "Size limit of each shard's pool (DB_MAX_CONNS).", []string{"shard"}, nil),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.conns
	ch <- c.waits
	ch <- c.max
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	for i, p := range c.pools {
		st, shard := p.Stat(), strconv.Itoa(i)
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(st.AcquiredConns()), shard, "acquired")
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(st.IdleConns()), shard, "idle")
		ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(st.EmptyAcquireCount()), shard)
		ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(st.MaxConns()), shard)
	}
}
