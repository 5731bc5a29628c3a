package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"scalelab/services/api/internal/cache"
	"scalelab/services/api/internal/shard"
	"scalelab/services/api/internal/store"
	"scalelab/services/api/internal/users"
	"scalelab/services/platform"
)

type config struct {
	base         platform.Base
	instance     string
	redisURL     string
	shardDSNs    []string
	cacheTTL     time.Duration
	redisTimeout time.Duration
	dbMaxConns   int
	dbTimeout    time.Duration
	seedUsers    int
}

func loadConfig(getenv func(string) string) (config, error) {
	env := platform.NewEnv(getenv)
	c := config{
		base:         platform.LoadBase(env, ":8080"),
		instance:     env.InstanceID(),
		redisURL:     env.Required("REDIS_URL"),
		shardDSNs:    platform.SplitList(env.Required("SHARD_DSNS")),
		cacheTTL:     env.Duration("CACHE_TTL", 5*time.Minute, time.Second, 7*24*time.Hour),
		redisTimeout: env.Duration("REDIS_TIMEOUT", 250*time.Millisecond, time.Millisecond, 10*time.Second),
		dbMaxConns:   env.Int("DB_MAX_CONNS", 8, 1, 1000),
		dbTimeout:    env.Duration("DB_TIMEOUT", 2*time.Second, 10*time.Millisecond, time.Minute),
		seedUsers:    env.Int("SEED_USERS", 10000, 0, 1_000_000),
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
	redisOpts, err := redis.ParseURL(cfg.redisURL)
	if err != nil {
		return fmt.Errorf("invalid configuration: REDIS_URL: %v", err)
	}
	redisOpts.DialTimeout = cfg.redisTimeout * 4
	redisOpts.ReadTimeout = cfg.redisTimeout
	redisOpts.WriteTimeout = cfg.redisTimeout
	redisOpts.MaxRetries = 0 // a retry doubles the latency a dead Redis costs
	rdb := redis.NewClient(redisOpts)
	defer rdb.Close()

	svc := platform.New("api", cfg.base, stdout)
	st, err := store.Open(cfg.shardDSNs, shard.Modulo{N: len(cfg.shardDSNs)},
		store.Options{MaxConns: int32(cfg.dbMaxConns), QueryTimeout: cfg.dbTimeout}, svc.Registry)
	if err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	defer st.Close()
	c := cache.New(rdb, cfg.redisTimeout)

	// Ready once every shard answers and holds the schema and seed users.
	// Redis is left out on purpose: without it the api is slower, not down.
	var prepared atomic.Bool
	prepCtx, stopPrep := context.WithCancel(ctx)
	prepDone := make(chan struct{})
	go func() {
		defer close(prepDone)
		prepare(prepCtx, svc, st, cfg.seedUsers, &prepared)
	}()
	defer func() { stopPrep(); <-prepDone }()
	svc.AddReadyCheck("schema+seed", func(context.Context) error {
		if !prepared.Load() {
			return errors.New("applying schema and seed users")
		}
		return nil
	})
	for i := range st.Shards() {
		svc.AddReadyCheck("shard-"+strconv.Itoa(i), func(ctx context.Context) error { return st.Ping(ctx, i) })
	}

	h := users.NewHandler(st, c, cfg.cacheTTL, svc.Logger, svc.Registry)
	svc.Logger.Info("starting", "instance", cfg.instance, "shards", st.Shards(), "cache_ttl", cfg.cacheTTL.String())
	return svc.Run(ctx, routes(svc, cfg.instance, h))
}

// routes is the one place that lists what the api answers.
func routes(svc *platform.Service, instance string, h *users.Handler) http.Handler {
	mux := http.NewServeMux()
	svc.HTTP.Handle(mux, "GET /{$}", hello(instance))
	svc.HTTP.Handle(mux, "GET /users/{id}", http.HandlerFunc(h.Get))
	svc.HTTP.Handle(mux, "PUT /users/{id}", http.HandlerFunc(h.Put))
	svc.HTTP.Handle(mux, "/users/{id}", methodNotAllowed("GET, HEAD, PUT"))
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

func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		platform.WriteProblem(w, r, http.StatusMethodNotAllowed, r.Method+" is not allowed here; use "+allow)
	})
}

// prepare applies the schema and seed users, retrying while shards are
// still starting, until it succeeds or the service stops.
func prepare(ctx context.Context, svc *platform.Service, st *store.Store, seed int, done *atomic.Bool) {
	for attempt := 1; ; attempt++ {
		err := st.Migrate(ctx)
		if err == nil {
			err = st.Seed(ctx, seed)
		}
		if err == nil {
			svc.Logger.Info("schema applied and users seeded", "seed_users", seed, "attempts", attempt)
			done.Store(true)
			return
		}
		svc.Logger.Warn("preparing shards failed; retrying", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(time.Duration(attempt)*500*time.Millisecond, 5*time.Second)):
		}
	}
}
