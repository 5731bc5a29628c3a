package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"scalelab/services/lb/internal/admin"
	"scalelab/services/lb/internal/forward"
	"scalelab/services/lb/internal/health"
	"scalelab/services/lb/internal/l4"
	"scalelab/services/lb/internal/proxy"
	"scalelab/services/lb/internal/routing"
	"scalelab/services/platform"
)

// routed is what run hands runRoutes: the lb-wide settings every pool of
// the routes file shares.
type routed struct {
	file           string        // LB_ROUTES_FILE
	poll           time.Duration // LB_ROUTES_POLL; 0: reload on SIGHUP only
	dnsRefresh     time.Duration
	connectTimeout time.Duration
	proxy          forward.Config
	health         health.Config
	l4             l4.Config
	tls            tlsSettings
	adminToken     string
}

// runRoutes is run with LB_ROUTES_FILE: pools and routes from the file
// instead of the one pool of LB_BACKENDS, reloaded on SIGHUP and when the
// file changes. The std engine (ReverseProxy) serves: each pool is its own
// proxy.Handler, and the router picks one per request.
func runRoutes(ctx context.Context, svc *platform.Service, cfg routed) error {
	transport := proxy.NewTransport(cfg.connectTimeout, cfg.proxy.TryTimeout)
	router, err := routing.New(ctx, cfg.file, routing.Deps{
		Transport:     transport,
		ProxyMetrics:  forward.NewMetrics(svc.Registry),
		HealthMetrics: health.NewMetrics(svc.Registry),
		Health:        cfg.health,
		Proxy:         cfg.proxy,
		Lookup:        net.DefaultResolver.LookupHost,
		DNSRefresh:    cfg.dnsRefresh,
		Logger:        svc.Logger,
	}, svc.Registry)
	if err != nil {
		return errors.New("invalid configuration: LB_ROUTES_FILE: " + err.Error())
	}
	defer router.Stop()

	var wg sync.WaitGroup
	defer wg.Wait()
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	wg.Go(func() {
		for {
			select {
			case <-watchCtx.Done():
				return
			case <-hup:
				router.Reload("SIGHUP")
			}
		}
	})
	if cfg.poll > 0 {
		wg.Go(func() { router.Watch(watchCtx, cfg.poll) })
	}

	svc.AddReadyCheck("backends", router.Ready)
	svc.HandleAdmin(admin.Prefix, admin.New(cfg.adminToken, func() []admin.Pool {
		var out []admin.Pool
		for _, p := range router.Pools() {
			out = append(out, admin.Pool{Name: p.Name, Policy: policyName(p.Spec), Tracker: p.Tracker, Metrics: router.Metrics()})
		}
		return out
	}, svc.Logger))

	// L4 sees no host or path: it balances over the catch-all route's pool.
	ls := &listeners{svc: svc}
	var traffic http.Handler = svc.HTTP.Wrap("/", router)
	err = ls.addL4(cfg.l4, router.Available, router.Observe, cfg.connectTimeout)
	if err == nil {
		err = ls.addTLS(cfg.tls, traffic)
	}
	if err != nil {
		ls.close()
		return err
	}
	return svc.Run(ctx, traffic)
}

func policyName(s routing.PoolSpec) string {
	if s.Policy == "" {
		return "round_robin"
	}
	return s.Policy
}
