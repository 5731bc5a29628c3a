// Package httpcache is the edge's HTTP logic: a shared cache (RFC 9111) in
// front of the origin, that answers from memory what the origin allowed it
// to keep, revalidates what went stale, and asks the origin for the rest.
//
// A GET or HEAD goes one of these ways, named in X-Cache and, in more
// detail, in Cache-Status (RFC 9211):
//
//   - HIT: a fresh stored copy matches the request (same URL, and the same
//     values of the fields its Vary names); it is served at once, and the
//     simulated distance to the origin (ORIGIN_RTT) is never paid.
//   - STALE: a stored copy past its lifetime is served anyway, because the
//     origin allowed it (stale-while-revalidate, which also starts one
//     background revalidation; stale-if-error, when the origin fails),
//     because the edge allows it (EDGE_STALE_IF_ERROR) or because the
//     client did (max-stale).
//   - REVALIDATED: the stale copy was confirmed by the origin with a 304 to
//     a conditional request; its headers and freshness are refreshed.
//   - MISS: no usable copy; the edge fetches from the origin, stores the
//     response when the rules allow, and answers. Concurrent misses for one
//     URL (and variant) share one origin fetch.
//   - BYPASS: the request is not one a shared cache may answer (a POST, or
//     one carrying Authorization with nothing stored for it); it is proxied.
//
// Every answer from a stored response says how old it is in Age.
//
// The files follow a request through its stages:
//
//   - serve.go and decide.go: ServeHTTP, what a stored entry may do for a
//     request (decide), answers from the store; status.go: Cache-Status.
//   - collapse.go: concurrent misses share one origin fetch; fetch.go: the
//     fetch itself; revalidate.go: conditional requests, 304s,
//     stale-while-revalidate in the background.
//   - pass.go: requests proxied unstored and responses streamed through;
//     stream.go: large fills answered while they arrive.
//   - fill.go: reading a response into the store within the fill budget;
//     purge.go and purgelog.go: purges, and the guard that keeps a fill
//     from undoing one.
package httpcache

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
	"golang.org/x/sync/singleflight"

	"scalelab/services/edge/internal/store"
)

// Config is what a Cache needs to know.
type Config struct {
	Origin         *url.URL          // where misses go; its path, if any, prefixes request paths
	Transport      http.RoundTripper // one shared pool of connections to the origin
	RTT            time.Duration     // simulated distance: slept before every origin request
	Timeout        time.Duration     // bound on one origin exchange, body included
	MaxObjectBytes int64             // larger responses are passed through, never stored
	// FillBytes bounds the bytes buffered by origin fetches on their way
	// into the store, all of them together: with the store's own budget,
	// it bounds the cache's memory. A fetch that finds no room streams
	// through unstored. Zero means a quarter of the store's budget, and at
	// least MaxObjectBytes.
	FillBytes int64
	// StreamMinBytes is the size (by Content-Length) from which a fill is
	// answered while it arrives instead of once complete (stream.go). Zero
	// means 256 KiB; negative means never.
	StreamMinBytes int64
	// StaleIfError is how long past its lifetime a stored response may be
	// served when the origin fails (5xx) or cannot be reached, on the
	// edge's own authority, for responses whose directives do not forbid
	// it. The origin's stale-if-error, when longer, wins.
	StaleIfError time.Duration
	// CollapseTimeout bounds how long a request waits for another
	// request's origin fetch; past it, it asks the origin itself (and its
	// answer is not stored). Zero means Timeout.
	CollapseTimeout time.Duration
	HeuristicMax    time.Duration // cap on a lifetime guessed from Last-Modified; zero means 24h
	AdminToken      string        // bearer token of PURGE and the admin purge API; empty disables the API
	ServedBy        string        // value of X-Served-By, and the cache's name in Cache-Status
	Logger          *slog.Logger
	Now             func() time.Time // the clock; tests pass a fake one to age entries without sleeping
	// Sleep waits out RTT before an origin request, returning early with
	// ctx's error when it ends first. Nil means a real, context-aware
	// sleep; tests pass one that counts the trips to the origin.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Cache is an http.Handler that proxies to the origin through a store.
type Cache struct {
	cfg     Config
	policy  Policy
	name    string // in Cache-Status, already an sf-item
	store   *store.Store[*Object]
	metrics *Metrics
	flight  singleflight.Group
	fills   *semaphore.Weighted // the FillBytes budget
	// writes carries the requests that cannot be resent (POST, PUT, ...),
	// each on a new connection: on a kept-alive one, the origin may close
	// it (its keep-alive timeout, 5s in Node and Apache) just as the
	// request is written, and a write that fails so cannot be told from
	// one the origin took and then failed on, so it must not be repeated
	// (RFC 9110 section 9.2.2). The transport resends GET and HEAD itself.
	writes http.RoundTripper
	// purges records purges and invalidations: a fetch stores its response
	// only if none of its own URL ran since it started.
	purges purgeLog
	// revalidating holds the flight keys with a background revalidation
	// under way, so that a burst of stale hits starts one, not one each.
	revalidating sync.Map
	// streams holds the fills being answered while they arrive, by flight
	// key (*growing), so requests arriving meanwhile read them too.
	streams    sync.Map
	background sync.WaitGroup
	reach      originReach // whether the origin answers (reach.go)
}

// NewStore returns a store for a Cache, indexed by surrogate key, evicting
// by store.DefaultPolicy.
func NewStore(maxBytes int64) *store.Store[*Object] {
	return NewStorePolicy(store.DefaultPolicy, maxBytes)
}

// NewStorePolicy is NewStore with eviction policy p (EDGE_CACHE_POLICY).
func NewStorePolicy(p store.Policy, maxBytes int64) *store.Store[*Object] {
	return store.NewPolicy(p, maxBytes, (*Object).Tags)
}

// New returns a Cache keeping responses in st (made by NewStore) and
// recording metrics in m.
func New(cfg Config, st *store.Store[*Object], m *Metrics) *Cache {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.FillBytes <= 0 {
		cfg.FillBytes = max(cfg.MaxObjectBytes, st.MaxBytes()/4, 1)
	}
	switch {
	case cfg.StreamMinBytes == 0:
		cfg.StreamMinBytes = 256 << 10
	case cfg.StreamMinBytes < 0:
		cfg.StreamMinBytes = 1<<63 - 1
	}
	if cfg.CollapseTimeout <= 0 {
		cfg.CollapseTimeout = cfg.Timeout
	}
	if cfg.HeuristicMax <= 0 {
		cfg.HeuristicMax = 24 * time.Hour
	}
	name := cfg.ServedBy
	if name == "" {
		name = "scalelab-edge"
	}
	writes := cfg.Transport
	if t, ok := cfg.Transport.(*http.Transport); ok {
		t = t.Clone()
		// No idle connections kept (net/http's "< 0"), without asking
		// the origin to close (as DisableKeepAlives would, with
		// Connection: close, which would replace the origin's own).
		t.MaxIdleConnsPerHost = -1
		writes = t
	}
	return &Cache{
		cfg: cfg, store: st, metrics: m, name: sfItem(name), writes: writes,
		policy: Policy{MaxObjectBytes: cfg.MaxObjectBytes, HeuristicMax: cfg.HeuristicMax},
		fills:  semaphore.NewWeighted(cfg.FillBytes),
	}
}

// FillBytes is the fill budget in use.
func (c *Cache) FillBytes() int64 { return c.cfg.FillBytes }

// Wait waits for the background revalidations under way.
func (c *Cache) Wait() { c.background.Wait() }

func joinValues(h http.Header, name string) string {
	return strings.Join(h.Values(name), ",")
}
