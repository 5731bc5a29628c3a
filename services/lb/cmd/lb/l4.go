package main

import (
	"context"
	"fmt"
	"time"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/lb/internal/l4"
	"scalelab/services/platform"
)

// startL4 starts the TCP listener of L4 mode when L4_LISTEN_ADDR is set,
// balancing connections over the same backends as the HTTP proxy, with the
// same health: backends is the health-filtered list and observe feeds dial
// outcomes to passive ejection (either may come from the tracker). It
// returns the context HTTP should serve under, which is also cancelled if
// L4 stops on an error (so the process exits rather than run half-broken),
// and stop, which ends L4 (waiting for its drain) and returns its error.
// Both listeners see the same cancellation, so they drain side by side.
func startL4(ctx context.Context, cfg l4.Config, svc *platform.Service, backends func() []*balancer.Backend,
	observe func(*balancer.Backend, bool), connectTimeout time.Duration) (context.Context, func() error, error) {
	if cfg.ListenAddr == "" {
		return ctx, func() error { return nil }, nil
	}
	ln, err := l4.Listen(cfg.ListenAddr)
	if err != nil {
		return ctx, nil, fmt.Errorf("L4_LISTEN_ADDR: %w", err)
	}
	cfg.Backends = backends
	cfg.Observe = observe
	cfg.ConnectTimeout = connectTimeout
	cfg.DrainDelay = svc.Base.DrainDelay
	cfg.ShutdownTimeout = svc.Base.ShutdownTimeout
	cfg.Metrics = l4.NewMetrics(svc.Registry)
	cfg.Logger = svc.Logger
	srv := l4.New(cfg)

	l4ctx, stopL4 := context.WithCancel(ctx)
	httpCtx, stopHTTP := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(l4ctx, ln)
		if err != nil {
			svc.Logger.Error("l4 listener failed; stopping", "error", err.Error())
			stopHTTP()
		}
		done <- err
	}()
	stop := func() error {
		stopL4()
		err := <-done
		stopHTTP()
		if err != nil {
			return fmt.Errorf("l4: %w", err)
		}
		return nil
	}
	return httpCtx, stop, nil
}
