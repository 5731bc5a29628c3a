package main

import (
	"fmt"
	"strings"
	"time"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/lb/internal/forward"
	"scalelab/services/lb/internal/health"
	"scalelab/services/platform"
)

// loadPolicy reads LB_POLICY and, for "hash", LB_HASH_KEY and
// LB_HASH_BALANCE_FACTOR. Problems are recorded on env.
func loadPolicy(env *platform.Env) balancer.Policy {
	name := env.String("LB_POLICY", "round_robin")
	var key balancer.HashKey
	factor := 0
	if name == "hash" {
		var err error
		if key, err = balancer.ParseHashKey(env.String("LB_HASH_KEY", "client")); err != nil {
			env.Fail("LB_HASH_KEY", err)
		}
		// 0: no bound; else HAProxy's hash-balance-factor, a percentage of
		// the fair share of at least 100.
		factor = env.Int("LB_HASH_BALANCE_FACTOR", 0, 0, 10000)
		if factor != 0 && factor < 100 {
			env.Fail("LB_HASH_BALANCE_FACTOR", fmt.Errorf("%d: want 0 (no bound) or a percentage of at least 100, e.g. 125", factor))
		}
	}
	p, err := balancer.New(name, key, factor)
	if err != nil {
		env.Fail("LB_POLICY", err)
		return balancer.NewRoundRobin()
	}
	return p
}

// loadProxyConfig reads retries, timeouts and trusted proxies.
func loadProxyConfig(env *platform.Env) forward.Config {
	// LB_BACKEND_TIMEOUT is the older name of the per-try timeout; the
	// new name wins when both are set.
	try := env.Duration("LB_BACKEND_TIMEOUT", 5*time.Second, time.Millisecond, time.Hour)
	try = env.Duration("LB_TRY_TIMEOUT", try, time.Millisecond, time.Hour)
	cfg := forward.Config{
		Retries:        env.Int("LB_RETRIES", 2, 0, 10),
		TryTimeout:     try,
		RequestTimeout: env.Duration("LB_REQUEST_TIMEOUT", 15*time.Second, time.Millisecond, time.Hour),
		Budget: forward.NewBudget(
			env.Int("LB_RETRY_BUDGET_PERCENT", 20, 0, 1000),
			env.Int("LB_RETRY_MIN_PER_SECOND", 10, 0, 1_000_000)),
		MaxBodyBytes:          env.Bytes("LB_MAX_BODY_BYTES", 10<<20, 0),
		BodyTimeout:           env.Duration("LB_CLIENT_BODY_TIMEOUT", 10*time.Second, 0, time.Hour),
		MaxRequestsPerBackend: env.Int("LB_MAX_REQUESTS_PER_BACKEND", 1024, 0, 1_000_000),
	}
	trusted, err := forward.ParseTrusted(env.String("LB_TRUSTED_PROXIES", ""))
	if err != nil {
		env.Fail("LB_TRUSTED_PROXIES", err)
	}
	cfg.Trusted = trusted
	return cfg
}

// loadHealthConfig reads active checks and passive ejection. Both are on by
// default; LB_HEALTH_PATH=off turns active checks off, LB_EJECT_AFTER=0
// passive ejection.
func loadHealthConfig(env *platform.Env) health.Config {
	cfg := health.Config{
		// The api answers GET / on its traffic port without touching a
		// database: a check of the replica, not of what it depends on,
		// which would take every replica out at once when PostgreSQL
		// hiccups.
		Path:               env.String("LB_HEALTH_PATH", "/"),
		Interval:           env.Duration("LB_HEALTH_INTERVAL", 2*time.Second, time.Millisecond, time.Hour),
		Timeout:            env.Duration("LB_HEALTH_TIMEOUT", time.Second, time.Millisecond, time.Minute),
		Rise:               env.Int("LB_HEALTH_RISE", 2, 1, 100),
		Fall:               env.Int("LB_HEALTH_FALL", 3, 1, 100),
		EjectAfter:         env.Int("LB_EJECT_AFTER", 5, 0, 1000),
		EjectTime:          env.Duration("LB_EJECT_TIME", 10*time.Second, time.Millisecond, time.Hour),
		MaxEjectTime:       env.Duration("LB_EJECT_MAX_TIME", 2*time.Minute, time.Millisecond, 24*time.Hour),
		MaxEjectionPercent: env.Int("LB_MAX_EJECTION_PERCENT", 50, 0, 100),
	}
	switch {
	case cfg.Path == "off":
		cfg.Path = ""
	case !strings.HasPrefix(cfg.Path, "/") || strings.ContainsAny(cfg.Path, " \t#"):
		env.Fail("LB_HEALTH_PATH", fmt.Errorf("%q: want a path starting with / (or off)", cfg.Path))
	}
	if cfg.MaxEjectTime < cfg.EjectTime {
		env.Fail("LB_EJECT_MAX_TIME", fmt.Errorf("%s is below LB_EJECT_TIME (%s)", cfg.MaxEjectTime, cfg.EjectTime))
	}
	return cfg
}
