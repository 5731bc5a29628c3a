package main

import (
	"context"
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
// the requests per second (make bench-lb; the README's lb section has the
// table), and it passes the std engine's own tests in this package. The
// std engine stays one variable away, and serves whatever the fast path
// hands over.
const defaultEngine = "fast"

// startEngine starts the fast path on LISTEN_ADDR when engine is "fast";
// for "std" it does nothing and svc.Run serves LISTEN_ADDR with net/http.
// With the fast path, svc.Run's own traffic server moves to a private
// loopback port nobody is told about (the platform always starts one), and
// what the fast path does not speak (Upgrade, Expect, CONNECT, HTTP/2 with
// prior knowledge) is handed to a net/http server running traffic, the std
// engine's handler under the platform middleware.
//
// As startL4 does, it returns the context the rest should serve under
// (cancelled too if the fast path stops on an error) and stop, which waits
// for the fast path's drain and returns its error.
func startEngine(ctx context.Context, engine string, svc *platform.Service, pool forward.Pool, policy balancer.Policy,
	metrics *forward.Metrics, cfg forward.Config, connectTimeout time.Duration, traffic http.Handler) (context.Context, func() error, error) {
	if engine != "fast" {
		return ctx, func() error { return nil }, nil
	}
	ln, err := net.Listen("tcp", svc.Base.ListenAddr)
	if err != nil {
		return ctx, nil, fmt.Errorf("LISTEN_ADDR: %w", err)
	}
	svc.Base.ListenAddr = "127.0.0.1:0"
	srv := fastpath.New(fastpath.Config{
		Pool:            pool,
		Policy:          policy,
		Metrics:         metrics,
		Forward:         cfg,
		ConnectTimeout:  connectTimeout,
		Logger:          svc.Logger,
		Instrument:      func(h http.Handler) http.Handler { return svc.HTTP.Wrap("/", h) },
		Fallback:        platform.WithRequestID(traffic),
		ShutdownTimeout: svc.Base.ShutdownTimeout,
		DrainDelay:      svc.Base.DrainDelay,
	})
	svc.Logger.Info("LB_ENGINE=fast: the fast path serves LISTEN_ADDR", "addr", ln.Addr().String())

	fastCtx, stopFast := context.WithCancel(ctx)
	restCtx, stopRest := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(fastCtx, ln)
		if err != nil {
			svc.Logger.Error("fast path listener failed; stopping", "error", err.Error())
			stopRest()
		}
		done <- err
	}()
	stop := func() error {
		stopFast()
		err := <-done
		stopRest()
		if err != nil {
			return fmt.Errorf("fast path: %w", err)
		}
		return nil
	}
	return restCtx, stop, nil
}
