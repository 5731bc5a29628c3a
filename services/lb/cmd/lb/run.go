package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"scalelab/services/lb/internal/admin"
	"scalelab/services/lb/internal/balancer"
	"scalelab/services/lb/internal/discovery"
	"scalelab/services/lb/internal/forward"
	"scalelab/services/lb/internal/health"
	"scalelab/services/lb/internal/l4"
	"scalelab/services/lb/internal/proxy"
	"scalelab/services/platform"
)

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := platform.NewEnv(getenv)
	base := platform.LoadBase(env, ":8000")
	// LB_ROUTES_FILE: pools and routes from a file (routes.go); without
	// it, the one pool of LB_BACKENDS.
	routesFile := env.String("LB_ROUTES_FILE", "")
	routesPoll := env.Duration("LB_ROUTES_POLL", 2*time.Second, 0, time.Hour)
	var backendList string
	if routesFile == "" {
		backendList = env.Required("LB_BACKENDS")
	}
	dnsRefresh := env.Duration("LB_DNS_REFRESH", 2*time.Second, 10*time.Millisecond, time.Hour)
	connectTimeout := env.Duration("LB_CONNECT_TIMEOUT", 2*time.Second, time.Millisecond, time.Minute)
	policy := loadPolicy(env)
	policyName := env.String("LB_POLICY", "round_robin")
	adminToken := env.String("LB_ADMIN_TOKEN", "")
	proxyCfg := loadProxyConfig(env)
	healthCfg := loadHealthConfig(env)
	l4cfg := l4.LoadConfig(env)
	engine := loadEngine(env)
	tlsCfg := loadTLSSettings(env)
	if routesFile != "" && engine == "fast" {
		env.Fail("LB_ENGINE", errors.New("fast serves one pool, not the routes of LB_ROUTES_FILE: use std (the default) with routes"))
	}
	var targets []discovery.Target
	if backendList != "" { // when empty, Required has already reported it
		var err error
		if targets, err = discovery.ParseTargets(backendList); err != nil {
			env.Fail("LB_BACKENDS", err)
		}
	}
	if err := env.Err(); err != nil {
		return err
	}

	svc := platform.New("lb", base, stdout)
	shared := routed{file: routesFile, poll: routesPoll, dnsRefresh: dnsRefresh,
		connectTimeout: connectTimeout, proxy: proxyCfg, health: healthCfg, l4: l4cfg, tls: tlsCfg, adminToken: adminToken}
	if routesFile != "" {
		return runRoutes(ctx, svc, shared)
	}
	return runPool(ctx, svc, pooled{routed: shared, targets: targets, policy: policy, policyName: policyName, engine: engine})
}

// pooled is what run hands runPool: the one pool of LB_BACKENDS, its
// policy and engine, and the lb-wide settings.
type pooled struct {
	routed
	targets    []discovery.Target
	policy     balancer.Policy
	policyName string
	engine     string
}

// runPool is run with LB_BACKENDS: one pool, served by the engine of
// LB_ENGINE.
func runPool(ctx context.Context, svc *platform.Service, cfg pooled) error {
	connectTimeout, proxyCfg, policy := cfg.connectTimeout, cfg.proxy, cfg.policy
	backends := discovery.NewSet(cfg.targets, net.DefaultResolver.LookupHost, svc.Logger)
	transport := proxy.NewTransport(connectTimeout, proxyCfg.TryTimeout)
	metrics := forward.NewMetrics(svc.Registry)
	tracker := health.New(cfg.health, transport, health.NewMetrics(svc.Registry), svc.Logger)
	// Metrics first: a backend's series exist before the tracker offers
	// it to requests.
	backends.Watch(metrics.Track)
	backends.Watch(tracker.Update)
	// Resolve once before serving, so that /readyz turns green as soon as
	// backends exist. A failure here is only logged: in compose the lb may
	// start before any api replica, and the refresh loop will find them.
	backends.Refresh(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	refreshCtx, stopRefresh := context.WithCancel(ctx)
	defer stopRefresh()
	wg.Go(func() { backends.Run(refreshCtx, cfg.dnsRefresh) })
	wg.Go(func() { tracker.Run(refreshCtx) })

	// Ready when some backend is healthy and not ejected.
	svc.AddReadyCheck("backends", tracker.Ready)

	handler := proxy.New(tracker, policy, transport, metrics, svc.Logger, proxyCfg)

	// The admin API, on the admin port behind LB_ADMIN_TOKEN.
	pools := []admin.Pool{{Name: "default", Policy: cfg.policyName, Tracker: tracker, Metrics: metrics}}
	svc.HandleAdmin(admin.Prefix, admin.New(cfg.adminToken, func() []admin.Pool { return pools }, svc.Logger))

	// Every path is proxied: admin endpoints live on their own listener,
	// so no path here is reserved. No http.ServeMux either: a mux cleans
	// paths, answering GET //a//b or /a/../b with a 307 to another URL,
	// and a transparent proxy must hand the backend the path the client
	// sent, byte for byte.
	traffic := svc.HTTP.Wrap("/", handler)

	// L4 mode (L4_LISTEN_ADDR) serves TCP alongside, over the same backends
	// and with the same health; LB_ENGINE=fast serves LISTEN_ADDR with the
	// fast path (engine.go); HTTPS (LB_TLS_LISTEN_ADDR), with HTTP/2,
	// serves the same handler.
	ls := &listeners{svc: svc}
	err := ls.addL4(cfg.l4, tracker.Available, tracker.Observe, connectTimeout)
	var plain http.Handler
	if err == nil {
		plain, err = ls.addEngine(cfg.engine, tracker, policy, metrics, proxyCfg, connectTimeout, traffic)
	}
	if err == nil {
		err = ls.addTLS(cfg.tls, traffic)
	}
	if err != nil {
		ls.close()
		return err
	}
	return svc.Run(ctx, plain)
}
