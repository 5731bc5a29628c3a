package loadgen

import (
	"context"
	"net/http"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Run sends the configured load and returns what it saw. It stops after
// cfg.N requests or cfg.Duration, whichever comes first, or when ctx ends;
// requests in flight then finish (each bounded by cfg.Timeout), so the end of
// a run does not show up as a burst of fake errors. It returns an error only
// for a bad config or a target that cannot be reached at all.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.IDs == nil && cfg.Scenario != nil && cfg.Scenario.DefaultIDs != nil {
		cfg.IDs = cfg.Scenario.DefaultIDs
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := preflight(ctx, &cfg); err != nil {
		return nil, err
	}
	p := newPlan(&cfg)
	opts, tr := attackerOptions(&cfg)
	// The run's connections end with it: a process that runs one load
	// after another (the experiments) would otherwise keep every run's
	// idle connections open until the server's idle timeout, thousands
	// through Docker's port proxy, each holding two of its descriptors.
	defer tr.CloseIdleConnections()
	atk := vegeta.NewAttacker(opts...)

	pacer := vegeta.Rate{Freq: cfg.Rate, Per: time.Second}
	start := time.Now()
	rec := newRecorder(start)
	results := atk.Attack(p.targeter(&cfg), pacer, cfg.Duration, "loadgen")

	stopProgress := startProgress(&cfg, rec)
	interrupted := false
	for {
		select {
		case res, ok := <-results:
			if !ok {
				elapsed := time.Since(start)
				stopProgress()
				return rec.report(&cfg, elapsed, stopReason(&cfg, rec, interrupted)), nil
			}
			if res.URL == "" && res.Code == 0 {
				continue // the targeter's ErrNoTargets: -n reached, nothing sent
			}
			rec.add(res)
		case <-ctx.Done():
			if !interrupted {
				interrupted = true
				atk.Stop() // stop dispatching; the results channel still drains
			}
			ctx = context.Background()
		}
	}
}

func attackerOptions(cfg *Config) ([]func(*vegeta.Attacker), *http.Transport) {
	// One Transport for the whole attack, so connections are kept alive and
	// reused instead of paying a handshake per request, which would mostly
	// measure the client.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // measure the stack, not an HTTP_PROXY from the environment
	tr.MaxIdleConns = 0
	tr.MaxIdleConnsPerHost = cfg.Concurrency
	client := &http.Client{
		Transport: tr,
		Timeout:   cfg.Timeout,
		// Report a 301/302 as what the server said instead of silently
		// following it and timing two requests as one.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	workers := uint64(cfg.Concurrency)
	opts := []func(*vegeta.Attacker){
		vegeta.Client(client),
		vegeta.MaxBody(0), // read and discard bodies: keep none in memory
		vegeta.MaxWorkers(workers),
	}
	if cfg.Rate == 0 {
		// Closed loop: exactly Concurrency workers, each sending its next
		// request as soon as the last one returned.
		return append(opts, vegeta.Workers(workers)), tr
	}
	// Open loop: start small; vegeta adds a worker whenever all are busy at
	// a tick, up to Concurrency in flight, so the arrival rate holds while
	// the server slows down (until the cap, which the report shows).
	return append(opts, vegeta.Workers(min(workers, 10))), tr
}

func stopReason(cfg *Config, rec *recorder, interrupted bool) string {
	switch {
	case interrupted:
		return "interrupted"
	case rec.total.requests >= cfg.N, cfg.Sequential && uint64(rec.total.requests) >= cfg.IDs.Size():
		return "completed"
	default:
		return "duration"
	}
}
