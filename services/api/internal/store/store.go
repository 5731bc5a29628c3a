// Package store keeps users in PostgreSQL, one connection pool per shard.
package store

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"scalelab/services/api/internal/breaker"
	"scalelab/services/api/internal/shard"
	"scalelab/services/api/shardmap"
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
	// PauseMax bounds how long a request waits while a shard refuses it
	// for a reshard's cut-over (default 5 s); then it fails with a 503.
	PauseMax time.Duration
	// ReadDelay is added to every single-user shard read (SHARD_QUERY_DELAY,
	// default 0): a realistic cost for a miss in the cache experiments.
	ReadDelay time.Duration
	// BreakerFailures unanswered queries in a row make a shard's requests
	// fail at once for BreakerCooldown (health.go); 0: the defaults.
	BreakerFailures int
	BreakerCooldown time.Duration
}

// Store routes each user to its shard's pool, by the current View.
type Store struct {
	view    atomic.Pointer[View]
	opts    Options
	mu      sync.Mutex // guards byDSN and reads
	byDSN   map[string]*pgxpool.Pool
	reads   map[string]readGate // by DSN, as the pools
	health  map[string]*breaker.Breaker
	refresh func(context.Context) (bool, error)
	timeout time.Duration
	queries *prometheus.CounterVec
	latency *prometheus.HistogramVec
	waits   *prometheus.CounterVec
	waited  prometheus.Histogram
	// breakerOpen is 1 while a shard server's breaker is not closed.
	breakerOpen *prometheus.GaugeVec
}

// Open creates one lazy pool per DSN, in shard order, routed by router as
// map version 0 (a fixed map, from configuration). Nothing is dialled until
// first use, so a shard that is down at start only fails its own ids.
func Open(dsns []string, router shard.Router, opts Options, reg prometheus.Registerer) (*Store, error) {
	if opts.PauseMax <= 0 {
		opts.PauseMax = 5 * time.Second
	}
	if opts.BreakerFailures <= 0 {
		opts.BreakerFailures = DefaultBreakerFailures
	}
	if opts.BreakerCooldown <= 0 {
		opts.BreakerCooldown = DefaultBreakerCooldown
	}
	s := &Store{
		opts:   opts,
		byDSN:  map[string]*pgxpool.Pool{},
		reads:  map[string]readGate{},
		health: map[string]*breaker.Breaker{},
		breakerOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scalelab_api_shard_breaker_open",
			Help: "1 while a shard server's circuit breaker is open or half-open (its users' requests fail at once), 0 while closed.",
		}, []string{"server"}),
		timeout: opts.QueryTimeout,
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scalelab_api_db_queries_total", Help: "Queries by shard, operation and outcome.",
		}, []string{"shard", "op", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "scalelab_api_db_query_duration_seconds", Help: "Query latency by shard and operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"shard", "op"}),
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scalelab_api_shard_waits_total",
			Help: "Requests a shard refused for a while, by reason: paused (a reshard's cut-over pauses writes) or stale_map (this replica had to follow a new shard map).",
		}, []string{"reason"}),
		waited: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "scalelab_api_shard_wait_seconds",
			Help:    "How long a refused request waited before its shard took it (the write pause a user saw).",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
	}
	v, err := s.newView(0, router, dsns)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("SHARD_DSNS: %v", err)
	}
	s.view.Store(v)
	if reg != nil {
		reg.MustRegister(s.queries, s.latency, s.waits, s.waited, s.breakerOpen, &poolCollector{store: s})
	}
	return s, nil
}

// SetMap routes by m from now on, unless the store already routes by m's
// version or a later one. Pools of shards that stay are kept.
func (s *Store) SetMap(m shardmap.Map) error {
	r, err := shardmap.NewRouter(m.Router, len(m.DSNs))
	if err != nil {
		return err
	}
	v, err := s.newView(m.Version, r, m.DSNs)
	if err != nil {
		return err
	}
	for {
		cur := s.view.Load()
		if cur.Version >= m.Version && cur.Version != 0 {
			return nil
		}
		if s.view.CompareAndSwap(cur, v) {
			return nil
		}
	}
}

// SetRefresher gives the store the way to follow the map when a shard says
// the store's map is stale: refresh reports whether it found a newer one.
func (s *Store) SetRefresher(refresh func(context.Context) (bool, error)) { s.refresh = refresh }

// newView builds the view of one map version, reusing open pools.
func (s *Store) newView(version int64, router shard.Router, dsns []string) (*View, error) {
	if router.Shards() != len(dsns) {
		return nil, fmt.Errorf("router has %d shards, map lists %d", router.Shards(), len(dsns))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v := &View{Version: version, router: router}
	for i, dsn := range dsns {
		pool, err := s.serverLocked(dsn)
		if err != nil {
			return nil, fmt.Errorf("shard %d: %v", i, err)
		}
		v.pools = append(v.pools, pool)
		v.reads = append(v.reads, s.reads[dsn])
		v.health = append(v.health, s.health[dsn])
		v.labels = append(v.labels, strconv.Itoa(i))
		v.trust = append(v.trust, trustKey(version, i))
	}
	return v, nil
}

// serverLocked returns the pool of the shard server at dsn, opening it,
// with the gate of its reads and its breaker, the first time. s.mu must be
// held.
func (s *Store) serverLocked(dsn string) (*pgxpool.Pool, error) {
	if pool, ok := s.byDSN[dsn]; ok {
		return pool, nil
	}
	pool, err := NewPool(dsn, s.opts)
	if err != nil {
		return nil, err
	}
	s.byDSN[dsn] = pool
	s.reads[dsn] = newReadGate(s.opts.MaxConns)
	s.health[dsn] = s.newShardBreaker(dsn)
	return pool, nil
}

// NewPool opens a lazy, bounded pool to one PostgreSQL server: nothing is
// dialled until first use, a dead server costs a connect at most 2 s or
// QueryTimeout if longer (not the kernel's minutes-long TCP timeout), and the server itself cancels any
// statement running past QueryTimeout.
func NewPool(dsn string, opts Options) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	// A fixed-size pool: every connection is dialled at once, in the
	// background, and kept (HikariCP gives the same advice: minimumIdle
	// equal to the maximum). When Redis stalls, every read lands on the
	// shards in the same instant, and connections dialled then (a fork and
	// an authentication each, on a server that is suddenly busy) made the
	// first requests miss their deadline. The price: replicas × the
	// shards a server holds × DB_MAX_CONNS connections stay open on each
	// server, which must stay inside its max_connections (the stack: 3 ×
	// 1 × 8 of 100).
	cfg.MinConns = cfg.MaxConns
	cfg.ConnConfig.ConnectTimeout = max(2*time.Second, opts.QueryTimeout)
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(opts.QueryTimeout.Milliseconds(), 10)
	cfg.ConnConfig.RuntimeParams["application_name"] = "scalelab-api"
	return pgxpool.NewWithConfig(context.Background(), cfg)
}

// Close closes every pool.
func (s *Store) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.byDSN {
		p.Close()
	}
}

// View returns the map the store routes by now.
func (s *Store) View() *View { return s.view.Load() }

// ShardOf returns the shard that holds id under the current map.
func (s *Store) ShardOf(id int64) int { return s.View().ShardOf(id) }

// TrustKey names the cache trust of id's shard under the current map.
func (s *Store) TrustKey(id int64) string {
	v := s.View()
	return v.trust[v.ShardOf(id)]
}

// Shards returns the number of shards of the current map.
func (s *Store) Shards() int { return s.View().Shards() }

// Ping checks that shard i of the current map answers.
func (s *Store) Ping(ctx context.Context, i int) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.View().pools[i].Ping(ctx)
}

// observe times one query on a shard and wraps its error with the shard.
func (s *Store) observe(shardID int, op string, start time.Time, err error) error {
	label := strconv.Itoa(shardID)
	s.latency.WithLabelValues(label, op).Observe(time.Since(start).Seconds())
	outcome := "ok"
	switch {
	case errors.Is(err, ErrNotFound):
		outcome = "not_found"
	case errors.Is(err, ErrStaleMap), errors.Is(err, ErrPaused):
		outcome = "refused" // by the shard's fence: followed or waited out
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
func (s *Store) Get(ctx context.Context, id int64) (u User, version int64, err error) {
	err = s.onMap(ctx, func(v *View) error {
		u, version, err = s.get(ctx, v, v.ShardOf(id), id)
		return err
	})
	return u, version, err
}

// GetFrom is Get from shard sh of view v, which the caller has already
// looked up (a cached read needs the shard for its trust key too, and
// computes it once). If that shard refuses the read (the map moved on, or
// a cut-over is under way), it is Get by the current map.
func (s *Store) GetFrom(ctx context.Context, v *View, sh int, id int64) (User, int64, error) {
	u, version, err := s.get(ctx, v, sh, id)
	if errors.Is(err, ErrStaleMap) || errors.Is(err, ErrPaused) {
		return s.Get(ctx, id)
	}
	return u, version, err
}

// getSQL reads one user with the shard's fence and version sequence.
const getSQL = `
		SELECT f.min_version, s.last_value, u.id, u.name, u.email, u.created_at, u.updated_at, u.version
		FROM shard_fence f CROSS JOIN (SELECT last_value FROM users_version_seq) s
		LEFT JOIN users u ON u.id = $1`

func (s *Store) get(ctx context.Context, v *View, sh int, id int64) (User, int64, error) {
	start := time.Now()
	if !v.admit(sh) {
		return User{}, 0, s.observe(sh, "get", start, ErrShardDown)
	}
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	release, err := v.reads[sh].enter(qctx)
	if err != nil {
		// Not the shard's answer: its reads are queued here. The breaker
		// hears nothing (a half-open probe left so is presumed lost).
		return User{}, 0, s.observe(sh, "get", start, err)
	}
	defer release()
	if err := s.readDelay(qctx); err != nil {
		return User{}, 0, s.observe(sh, "get", start, err)
	}
	var minVersion, seq int64
	var n nullUser
	err = v.pools[sh].QueryRow(qctx, getSQL, id).Scan(append([]any{&minVersion, &seq}, n.dest()...)...)
	v.answered(ctx, sh, err)
	if err == nil {
		err = v.check(minVersion)
	}
	if err == nil && n.id == nil {
		return User{}, seq, s.observe(sh, "get", start, ErrNotFound)
	}
	u := n.user()
	return u, u.Version, s.observe(sh, "get", start, err)
}

// Put creates or replaces a user on its shard and reports whether it was
// created.
func (s *Store) Put(ctx context.Context, u User) (stored User, created bool, err error) {
	err = s.onMap(ctx, func(v *View) error {
		stored, created, err = s.put(ctx, v, u)
		return err
	})
	return stored, created, err
}

func (s *Store) put(ctx context.Context, v *View, u User) (User, bool, error) {
	sh := v.ShardOf(u.ID)
	start := time.Now()
	if !v.admit(sh) {
		return User{}, false, s.observe(sh, "put", start, ErrShardDown)
	}
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var email *string
	if u.Email != "" {
		email = &u.Email
	}
	// The fence row is taken FOR KEY SHARE before the write (see
	// fencedWrite); xmax is 0 on a freshly inserted row version: the
	// cheapest way to tell an insert from an update in one round trip.
	var frozen bool
	var minVersion int64
	var created *bool
	var n nullUser
	err := v.pools[sh].QueryRow(qctx, putSQL, u.ID, u.Name, email, v.Version).Scan(append([]any{&frozen, &minVersion, &created}, n.dest()...)...)
	v.answered(ctx, sh, err)
	if err == nil {
		err = v.checkWrite(frozen, minVersion)
	}
	if err != nil {
		return User{}, false, s.observe(sh, "put", start, err)
	}
	return n.user(), *created, s.observe(sh, "put", start, nil)
}

// Delete removes a user from its shard. It returns the version of the
// deletion: later than any write before it, earlier than any after.
func (s *Store) Delete(ctx context.Context, id int64) (version int64, err error) {
	err = s.onMap(ctx, func(v *View) error {
		version, err = s.delete(ctx, v, id)
		return err
	})
	return version, err
}

func (s *Store) delete(ctx context.Context, v *View, id int64) (int64, error) {
	sh := v.ShardOf(id)
	start := time.Now()
	if !v.admit(sh) {
		return 0, s.observe(sh, "delete", start, ErrShardDown)
	}
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var frozen bool
	var minVersion int64
	var version *int64
	err := v.pools[sh].QueryRow(qctx, deleteSQL, id, v.Version).Scan(&frozen, &minVersion, &version)
	v.answered(ctx, sh, err)
	if err == nil {
		err = v.checkWrite(frozen, minVersion)
	}
	if err == nil && version == nil {
		err = ErrNotFound
	}
	if err != nil {
		return 0, s.observe(sh, "delete", start, err)
	}
	return *version, s.observe(sh, "delete", start, nil)
}

var putSQL = fencedWrite(4) + `,
	w AS (
		INSERT INTO users (id, name, email) SELECT $1, $2, $3 FROM f WHERE f.allowed
		ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email,
			updated_at = now(), version = nextval('users_version_seq')
		RETURNING id, name, email, created_at, updated_at, version, (xmax = 0) AS created)
	SELECT f.frozen, f.min_version, w.created, w.id, w.name, w.email, w.created_at, w.updated_at, w.version
	FROM f LEFT JOIN w ON true`

var deleteSQL = fencedWrite(2) + `,
	d AS (DELETE FROM users WHERE id = $1 AND (SELECT allowed FROM f)
		RETURNING nextval('users_version_seq') AS version)
	SELECT f.frozen, f.min_version, d.version FROM f LEFT JOIN d ON true`

// Migrate applies the schema to every shard of the current map; it is
// idempotent. Replicas starting together may race on CREATE TABLE IF NOT
// EXISTS (PostgreSQL can then fail one with a duplicate pg_type key); the
// caller retries.
func (s *Store) Migrate(ctx context.Context) error {
	for i, p := range s.View().pools {
		if _, err := p.Exec(ctx, Schema); err != nil {
			return &ShardError{Shard: i, Err: fmt.Errorf("apply schema: %w", err)}
		}
	}
	return nil
}

// Seed makes sure users 1..n exist, each on the shard the router names.
// Existing rows are left alone, so every replica may run it at every start.
func (s *Store) Seed(ctx context.Context, n int) error {
	v := s.View()
	ids := make([][]int64, v.Shards())
	names := make([][]string, v.Shards())
	for id := int64(1); id <= int64(n); id++ {
		sh := v.ShardOf(id)
		ids[sh] = append(ids[sh], id)
		names[sh] = append(names[sh], seedName(id))
	}
	// Batches keep each statement well inside the statement timeout.
	const batch = 5000
	for i, p := range v.pools {
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
