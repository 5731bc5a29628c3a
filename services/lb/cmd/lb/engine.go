package main

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/lb/internal/fastpath"
	"scalelab/services/lb/internal/forward"
	"scalelab/services/platform"
)

// engines are the values of LB_ENGINE: which code serves HTTP on
// LISTEN_ADDR. Both share backends, health, policy, metrics and budget.
var engines = []string{"fast", "std"}

// loadEngine reads LB_ENGINE. Its default is the fast path, except with
// LB_ROUTES_FILE, whose pools only the std engine serves.
func loadEngine(env *platform.Env) string {
	def := defaultEngine
	if env.String("LB_ROUTES_FILE", "") != "" {
		def = "std"
	}
	e := env.String("LB_ENGINE", def)
	for _, ok := range engines {
		if e == ok {
			return e
		}
	}
	env.Fail("LB_ENGINE", fmt.Errorf("%q: want fast (internal/fastpath) or std (net/http's ReverseProxy)", e))
	return defaultEngine
}

// defaultEngine is the fast path: on this lab's 2-core machine it spends
// about 0.4x the CPU per request of the std engine and serves about 1.3x
// the requests per second (make bench-lb; docs/lb.md has the figures),
// and it passes the std engine's own tests in this package. The
// std engine stays one variable away, and serves whatever the fast path
// hands over.
const defaultEngine = "fast"

// addEngine adds the fast path on LISTEN_ADDR when engine is "fast", and
// returns the handler svc.Run serves on LISTEN_ADDR: traffic for "std",
// nil for "fast" (the platform then opens no traffic listener of its own).
// What the fast path does not speak (Upgrade, Expect, CONNECT, HTTP/2 with
// prior knowledge) is handed to a net/http server running traffic, the std
// engine's handler under the platform middleware.
func (ls *listeners) addEngine(engine string, pool forward.Pool, policy balancer.Policy,
	metrics *forward.Metrics, cfg forward.Config, connectTimeout time.Duration, traffic http.Handler) (http.Handler, error) {
	if engine != "fast" {
		return traffic, nil
	}
	svc := ls.svc
	ln, err := net.Listen("tcp", svc.Base.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("LISTEN_ADDR: %w", err)
	}
	srv := fastpath.New(fastpath.Config{
		Pool:            pool,
		Policy:          policy,
		Metrics:         metrics,
		Forward:         cfg,
		ConnectTimeout:  connectTimeout,
		Logger:          svc.Logger,
		Route:           svc.HTTP.Route("/"),
		Fallback:        svc.TrafficHandler(traffic),
		ShutdownTimeout: svc.Base.ShutdownTimeout,
		Draining:        svc.Draining,
	})
	svc.Logger.Info("LB_ENGINE=fast: the fast path serves LISTEN_ADDR", "addr", ln.Addr().String())
	ls.add("fast path", ln, srv)
	return nil, nil
}
