package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"scalelab/services/api/internal/breaker"
	"scalelab/services/api/internal/cache"
	"scalelab/services/api/internal/cacheaside"
	"scalelab/services/api/internal/idgen"
	"scalelab/services/api/internal/orders"
	"scalelab/services/api/internal/session"
	"scalelab/services/api/internal/shard"
	"scalelab/services/api/internal/store"
	"scalelab/services/api/internal/users"
	"scalelab/services/platform"
)

type config struct {
	base         platform.Base
	instance     string
	redis        redisConfig
	shardDSNs    []string
	cacheTTL     time.Duration
	redisTimeout time.Duration
	dbMaxConns   int
	dbTimeout    time.Duration
	seedUsers    int
	cacheOpts    cacheaside.Options
	router       shard.Router
	routerName   string
	nodeID       int
	leaseTTL     time.Duration
	breakerFails int
	breakerCool  time.Duration
	ordersDSN    string
	sessionTTL   time.Duration
	secureCookie bool
	shardMapDSN  string
	shardMapPoll time.Duration
	pauseMax     time.Duration
	readDelay    time.Duration
	shardFails   int
	shardCool    time.Duration
	engine       string
}

func loadConfig(getenv func(string) string) (config, error) {
	env := platform.NewEnv(getenv)
	c := config{
		base:         platform.LoadBase(env, ":8080"),
		instance:     env.InstanceID(),
		redis:        loadRedisConfig(env),
		shardDSNs:    platform.SplitList(env.Required("SHARD_DSNS")),
		cacheTTL:     env.Duration("CACHE_TTL", 5*time.Minute, time.Second, 7*24*time.Hour),
		redisTimeout: env.Duration("REDIS_TIMEOUT", 250*time.Millisecond, time.Millisecond, 10*time.Second),
		dbMaxConns:   env.Int("DB_MAX_CONNS", 8, 1, 1000),
		dbTimeout:    env.Duration("DB_TIMEOUT", 2*time.Second, 10*time.Millisecond, time.Minute),
		seedUsers:    env.Int("SEED_USERS", 10000, 0, 1_000_000),
		leaseTTL:     env.Duration("CACHE_LEASE_TTL", 3*time.Second, 10*time.Millisecond, time.Minute),
		breakerFails: env.Int("CACHE_BREAKER_FAILURES", 5, 1, 1000),
		breakerCool:  env.Duration("CACHE_BREAKER_COOLDOWN", 2*time.Second, 10*time.Millisecond, 10*time.Minute),
		ordersDSN:    env.String("ORDERS_DSN", ""),
		sessionTTL:   env.Duration("SESSION_TTL", 24*time.Hour, time.Second, 30*24*time.Hour),
		secureCookie: env.Bool("SESSION_SECURE_COOKIE", false),
		shardMapDSN:  env.String("SHARD_MAP_DSN", ""),
		shardMapPoll: env.Duration("SHARD_MAP_POLL", time.Second, 10*time.Millisecond, time.Minute),
		pauseMax:     env.Duration("SHARD_PAUSE_MAX", 5*time.Second, 0, time.Minute),
		readDelay:    env.Duration("SHARD_QUERY_DELAY", 0, 0, 10*time.Second),
		shardFails:   env.Int("SHARD_BREAKER_FAILURES", store.DefaultBreakerFailures, 1, 1000),
		shardCool:    env.Duration("SHARD_BREAKER_COOLDOWN", store.DefaultBreakerCooldown, 10*time.Millisecond, 10*time.Minute),
	}
	c.engine = loadEngine(env)
	// Snowflake node id: unique per replica, or two replicas could mint the
	// same user id in the same millisecond. NODE_ID sets it; by default it is
	// derived from the instance name (see idgen.NodeFromName on collisions).
	c.nodeID = env.Int("NODE_ID", idgen.NodeFromName(c.instance), 0, idgen.MaxNode)
	c.routerName = env.String("SHARD_ROUTER", "modulo")
	router, err := shard.New(c.routerName, max(len(c.shardDSNs), 1))
	if err != nil {
		env.Fail("SHARD_ROUTER", err)
	}
	c.router = router
	strategy, err := cacheaside.ParseStrategy(env.String("CACHE_STRATEGY", string(cacheaside.CacheAside)))
	if err != nil {
		env.Fail("CACHE_STRATEGY", err)
	}
	c.cacheOpts = cacheaside.Options{
		Strategy:    strategy,
		TTL:         c.cacheTTL,
		NegativeTTL: env.Duration("CACHE_NEGATIVE_TTL", 10*time.Second, time.Millisecond, time.Hour),
		LeaseWait:   env.Duration("CACHE_LEASE_WAIT", 300*time.Millisecond, 0, time.Minute),
		TrustTTL:    env.Duration("CACHE_TRUST_TTL", time.Second, 50*time.Millisecond, time.Minute),
		ClockSkew:   env.Duration("CACHE_CLOCK_SKEW", 50*time.Millisecond, 0, 10*time.Second),
	}
	if err := env.Err(); err != nil {
		return c, err
	}
	if len(c.shardDSNs) > 64 {
		return c, fmt.Errorf("invalid configuration: SHARD_DSNS: %d shards, at most 64", len(c.shardDSNs))
	}
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	rdb, err := newRedis(cfg)
	if err != nil {
		return err
	}
	defer rdb.Close()

	// Access log lines leave in batches, not one write each (batchWriter).
	logs := newBatchWriter(stdout, 50*time.Millisecond, 32<<10)
	defer logs.Close()
	svc := platform.New("api", cfg.base, logs)
	ids, err := idgen.New(cfg.nodeID, time.Now)
	if err != nil {
		return fmt.Errorf("invalid configuration: NODE_ID: %v", err)
	}
	st, err := store.Open(cfg.shardDSNs, cfg.router,
		store.Options{MaxConns: int32(cfg.dbMaxConns), QueryTimeout: cfg.dbTimeout, PauseMax: cfg.pauseMax, ReadDelay: cfg.readDelay,
			BreakerFailures: cfg.shardFails, BreakerCooldown: cfg.shardCool}, svc.Registry)
	if err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	defer st.Close()
	c, err := cache.New(rdb, cfg.redisTimeout, cfg.leaseTTL)
	if err != nil {
		return err
	}
	defer c.Close()
	br := redisBreaker(svc, cfg)

	// Ready once every shard has answered with the schema and seed users.
	// After that neither a shard nor Redis makes the replica unready: every
	// replica shares them, so taking replicas out of the balancer for it
	// would turn a third of the users failing into all of them failing.
	// Shard health shows in the metrics and in each answer's status instead.
	cached := cacheaside.New(ctx, st, c, br, cfg.cacheOpts, svc.Logger, svc.Registry)
	h := users.NewHandler(cached, ids, svc.Logger)
	follow, closeMap, err := followShardMap(ctx, svc, cfg, st, cached.TrustNow)
	if err != nil {
		return err
	}
	defer closeMap()
	stopPrep := prepareInBackground(ctx, svc, cfg, st, follow, cached)
	defer stopPrep()
	oh, closeOrders, err := openOrders(ctx, svc, cfg, ids, h)
	if err != nil {
		return err
	}
	defer closeOrders()

	// Sessions live in Redis, so that any replica can serve any session.
	sessions := session.New(rdb, cfg.sessionTTL, cfg.redisTimeout)
	sh := session.NewHandler(sessions, cfg.instance, func(ctx context.Context, id int64) (string, error) {
		name, ok, err := h.Name(ctx, id)
		if err == nil && !ok {
			err = fmt.Errorf("user %d: %w", id, session.ErrUnknownUser)
		}
		return name, err
	}, cfg.secureCookie, svc.Logger)
	svc.Logger.Info("starting", "instance", cfg.instance, "shards", st.Shards(),
		"shard_router", fmt.Sprintf("%T", cfg.router), "node_id", cfg.nodeID, "cache_strategy", cfg.cacheOpts.Strategy, "cache_ttl", cfg.cacheTTL.String())
	return serve(ctx, svc, cfg, routes(svc, cfg.instance, h, oh, sh), h)
}

// routes is the one place that lists what the api answers.
func routes(svc *platform.Service, instance string, h *users.Handler, oh *orders.Handler, sh *session.Handler) http.Handler {
	mux := http.NewServeMux()
	svc.HTTP.Handle(mux, "GET /{$}", svc.UnlessDraining(hello(instance)))
	svc.HTTP.Handle(mux, "GET /users", http.HandlerFunc(h.List))
	svc.HTTP.Handle(mux, "POST /users", http.HandlerFunc(h.Create))
	svc.HTTP.Handle(mux, "GET /users/{id}", http.HandlerFunc(h.Get))
	svc.HTTP.Handle(mux, "PUT /users/{id}", http.HandlerFunc(h.Put))
	svc.HTTP.Handle(mux, "DELETE /users/{id}", http.HandlerFunc(h.Delete))
	svc.HTTP.Handle(mux, "/users/{id}", methodNotAllowed("GET, HEAD, PUT, DELETE"))
	if oh != nil {
		svc.HTTP.Handle(mux, "POST /users/{id}/orders", http.HandlerFunc(oh.Create))
		svc.HTTP.Handle(mux, "GET /users/{id}/orders", http.HandlerFunc(oh.List))
		svc.HTTP.Handle(mux, "GET /users/{id}/orders/{orderID}", http.HandlerFunc(oh.Get))
		svc.HTTP.Handle(mux, "/users/{id}/orders", methodNotAllowed("GET, HEAD, POST"))
		svc.HTTP.Handle(mux, "/users/{id}/orders/{orderID}", methodNotAllowed("GET, HEAD"))
	} else {
		off := problem(http.StatusServiceUnavailable, "orders are not configured on this replica (ORDERS_DSN)")
		svc.HTTP.Handle(mux, "/users/{id}/orders", off)
		svc.HTTP.Handle(mux, "/users/{id}/orders/{orderID}", off)
	}
	svc.HTTP.Handle(mux, "POST /login", http.HandlerFunc(sh.Login))
	svc.HTTP.Handle(mux, "GET /me", http.HandlerFunc(sh.Me))
	svc.HTTP.Handle(mux, "POST /logout", http.HandlerFunc(sh.Logout))
	svc.HTTP.Handle(mux, "/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		platform.WriteProblem(w, r, http.StatusNotFound, "no route for "+r.Method+" "+r.URL.Path)
	}))
	return platform.ServedBy(instance, mux)
}

// hello is the guide's stateless backend: it says which replica answered.
func hello(instance string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "Hello from %s\n", instance)
	})
}

func problem(status int, detail string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		platform.WriteProblem(w, r, status, detail)
	})
}

func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		platform.WriteProblem(w, r, http.StatusMethodNotAllowed, r.Method+" is not allowed here; use "+allow)
	})
}

// prepare loads the shard map (when a catalog is configured: a replica
// serves by the newest map, never by a stale one it started with), then
// applies the schema and seed users, retrying while the servers are still
// starting, until it succeeds (true) or the service stops (false).
func prepare(ctx context.Context, svc *platform.Service, st *store.Store, follow func(context.Context) error, seed int) bool {
	retry(ctx, svc, "shard map loaded, schema applied and users seeded", func(ctx context.Context) error {
		if err := follow(ctx); err != nil {
			return err
		}
		if err := st.Migrate(ctx); err != nil {
			return err
		}
		return st.Seed(ctx, seed)
	})
	// Ready with warm connections: see store.WarmPools. A server that
	// refuses them (max_connections) costs speed, not service: say so
	// and go on.
	warmCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := st.WarmPools(warmCtx); err != nil && ctx.Err() == nil {
		svc.Logger.Warn("shard connections not all warmed; they are dialled when needed", "err", err)
	}
	return ctx.Err() == nil
}

// retry runs step until it succeeds or the service stops, backing off.
func retry(ctx context.Context, svc *platform.Service, done string, step func(context.Context) error) {
	for attempt := 1; ; attempt++ {
		err := step(ctx)
		if err == nil {
			svc.Logger.Info(done, "attempts", attempt)
			return
		}
		svc.Logger.Warn("retrying: "+done, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(time.Duration(attempt)*500*time.Millisecond, 5*time.Second)):
		}
	}
}

// redisBreaker opens after consecutive Redis failures: for a cooldown the
// api does not even try Redis, so a dead cache costs no timeouts at all.
func redisBreaker(svc *platform.Service, cfg config) *breaker.Breaker {
	br := breaker.New("redis", cfg.breakerFails, cfg.breakerCool, time.Now)
	svc.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "scalelab_api_cache_breaker_open",
		Help: "1 while the Redis circuit breaker is open or half-open (the cache is skipped), 0 while closed.",
	}, func() float64 {
		if br.State() == breaker.Closed {
			return 0
		}
		return 1
	}))
	return br
}

// prepareInBackground applies the schema and the seed users until every
// shard has taken them; the replica is ready only then. It returns the
// function that stops it and waits for it.
func prepareInBackground(ctx context.Context, svc *platform.Service, cfg config, st *store.Store, follow func(context.Context) error, cached *cacheaside.Users) (stop func()) {
	var prepared atomic.Bool
	prepCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if prepare(prepCtx, svc, st, follow, cfg.seedUsers) {
			// The outbox table exists now: trust the cache at once
			// rather than at the next tick, so the first reads use it.
			cached.TrustNow(prepCtx)
			prepared.Store(true)
		}
	}()
	svc.AddReadyCheck("schema+seed", func(context.Context) error {
		if !prepared.Load() {
			return errors.New("applying schema and seed users")
		}
		return nil
	})
	return func() { cancel(); <-done }
}

// openOrders opens the orders server (vertical partitioning) and gives the
// users' handler its orders. Without ORDERS_DSN the orders routes say so,
// and the users are unaffected.
func openOrders(ctx context.Context, svc *platform.Service, cfg config, ids *idgen.Generator, h *users.Handler) (*orders.Handler, func(), error) {
	if cfg.ordersDSN == "" {
		return nil, func() {}, nil
	}
	ost, err := orders.Open(cfg.ordersDSN, orders.Options{MaxConns: int32(cfg.dbMaxConns), QueryTimeout: cfg.dbTimeout}, svc.Registry)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid configuration: %w", err)
	}
	// The orders schema is applied in the background: a down orders
	// server must not keep the users from being served.
	go retry(ctx, svc, "orders schema applied", ost.Migrate)
	oh := orders.NewHandler(ost, ids, h.Exists, users.ParseID, svc.Logger)
	h.SetOrders(func(ctx context.Context, userID int64) (any, error) {
		return oh.ForUser(ctx, userID, orders.DefaultLimit)
	})
	return oh, ost.Close, nil
}
