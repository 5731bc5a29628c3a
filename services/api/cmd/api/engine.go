package main

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"scalelab/services/api/internal/hitpath"
	"scalelab/services/api/internal/users"
	"scalelab/services/platform"
)

// loadEngine reads API_ENGINE: what serves LISTEN_ADDR. The default is
// the hit path: a read costs about half the CPU of net/http's (see
// docs/benchmarks.md). net/http alone stays one variable away, to compare.
func loadEngine(env *platform.Env) string {
	engine := env.String("API_ENGINE", "fast")
	if engine != "fast" && engine != "std" {
		env.Fail("API_ENGINE", fmt.Errorf("%q: want fast (GET /users/{id} answered by internal/hitpath, the rest by net/http) or std (net/http for everything)", engine))
	}
	return engine
}

// serve runs the service with handler on LISTEN_ADDR: by net/http alone
// (API_ENGINE=std), or by the hit path, which answers GET /users/{id} on
// the connection and hands every other request to a net/http server
// running handler under the platform's middleware, as svc.Run would.
func serve(ctx context.Context, svc *platform.Service, cfg config, handler http.Handler, h *users.Handler) error {
	if cfg.engine == "std" {
		return svc.Run(ctx, handler)
	}
	ln, err := net.Listen("tcp", cfg.base.ListenAddr)
	if err != nil {
		return fmt.Errorf("LISTEN_ADDR: %w", err)
	}
	svc.AddServer("hit path", ln, hitpath.New(hitpath.Config{
		Users:    h,
		Instance: cfg.instance,
		PlainGetsConfig: platform.PlainGetsConfig{
			Route:           svc.HTTP.Route(hitpath.Route),
			Fallback:        svc.TrafficHandler(handler),
			Draining:        svc.Draining,
			Logger:          svc.Logger,
			ShutdownTimeout: cfg.base.ShutdownTimeout,
		},
	}))
	return svc.Run(ctx, nil)
}
