package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"scalelab/services/edge/internal/hitpath"
	"scalelab/services/edge/internal/httpcache"
	"scalelab/services/edge/internal/store"
	"scalelab/services/platform"
)

// run reads the configuration, builds the cache and serves it until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := platform.NewEnv(getenv)
	base := platform.LoadBase(env, ":8080")
	env.Required("ORIGIN_URL")
	origin := env.URL("ORIGIN_URL", "", "http", "https")
	rtt := env.Duration("ORIGIN_RTT", 0, 0, time.Minute)
	timeout := env.Duration("ORIGIN_TIMEOUT", 30*time.Second, time.Millisecond, 10*time.Minute)
	cacheBytes := env.Bytes("EDGE_CACHE_BYTES", 256<<20, 0)
	policy := store.DefaultPolicy
	if v := env.String("EDGE_CACHE_POLICY", string(store.DefaultPolicy)); v != "" {
		p, err := store.ParsePolicy(v)
		if err != nil {
			env.Fail("EDGE_CACHE_POLICY", err)
		}
		policy = p
	}
	maxObject := env.Bytes("EDGE_MAX_OBJECT_BYTES", 64<<20, 0)
	// 0: a quarter of the cache, and room for at least one object of the
	// largest size (see httpcache.Config.FillBytes).
	fillBytes := env.Bytes("EDGE_FILL_BYTES", 0, 0)
	// 0: never stream a fill; fills are answered once complete.
	streamMin := env.Bytes("EDGE_STREAM_MIN_BYTES", 256<<10, 0)
	staleIfError := env.Duration("EDGE_STALE_IF_ERROR", 0, 0, 365*24*time.Hour)
	collapseTimeout := env.Duration("EDGE_COLLAPSE_TIMEOUT", 10*time.Second, time.Millisecond, 10*time.Minute)
	heuristicMax := env.Duration("EDGE_HEURISTIC_MAX", 24*time.Hour, time.Second, 365*24*time.Hour)
	adminToken := env.String("EDGE_ADMIN_TOKEN", "")
	engine := env.String("EDGE_ENGINE", "fast")
	if engine != "fast" && engine != "std" {
		env.Fail("EDGE_ENGINE", fmt.Errorf("%q: want fast (plain hits answered by internal/hitpath, the rest by net/http) or std (net/http for everything)", engine))
	}
	servedBy := env.InstanceID()
	if err := env.Err(); err != nil {
		return err
	}

	svc := platform.New("edge", base, stdout)
	st := httpcache.NewStorePolicy(policy, cacheBytes)
	cache := httpcache.New(httpcache.Config{
		Origin:          origin,
		Transport:       newOriginTransport(),
		RTT:             rtt,
		Timeout:         timeout,
		MaxObjectBytes:  maxObject,
		FillBytes:       fillBytes,
		StreamMinBytes:  cmp.Or(streamMin, -1),
		StaleIfError:    staleIfError,
		CollapseTimeout: min(collapseTimeout, timeout),
		HeuristicMax:    heuristicMax,
		AdminToken:      adminToken,
		ServedBy:        servedBy,
		Logger:          svc.Logger,
	}, st, httpcache.NewMetrics(svc.Registry, st))
	svc.HandleAdmin("POST /cache/purge", cache.PurgeHandler())
	// No readiness check on the origin: an edge with a warm cache is still
	// useful while the origin is down, and its misses answer 502 saying so.

	mux := http.NewServeMux()
	svc.HTTP.Handle(mux, "/", cache)
	svc.Logger.Info("edge configured", "origin", origin.String(), "origin_rtt", rtt.String(), "engine", engine,
		"cache_bytes", cacheBytes, "cache_policy", st.Policy(), "max_object_bytes", maxObject, "fill_bytes", cache.FillBytes(), "stream_min_bytes", streamMin,
		"stale_if_error", staleIfError.String(), "collapse_timeout", collapseTimeout.String(),
		"admin_purge", adminToken != "", "served_by", servedBy)
	if engine == "std" {
		return svc.Run(ctx, mux)
	}
	// The hit path serves LISTEN_ADDR and hands what is not a plain hit
	// to a net/http server running mux under the platform's middleware,
	// as svc.Run would serve it.
	ln, err := net.Listen("tcp", base.ListenAddr)
	if err != nil {
		return fmt.Errorf("LISTEN_ADDR: %w", err)
	}
	svc.AddServer("hit path", ln, hitpath.New(hitpath.Config{Cache: cache, PlainGetsConfig: platform.PlainGetsConfig{
		Route:           svc.HTTP.Route("/"),
		Fallback:        svc.TrafficHandler(mux),
		Draining:        svc.Draining,
		Logger:          svc.Logger,
		ShutdownTimeout: base.ShutdownTimeout,
	}}))
	return svc.Run(ctx, nil)
}

// newOriginTransport is the one connection pool every origin request
// shares. Reusing warm connections matters doubly for a far origin: each new
// one costs a TCP (and TLS) handshake, round trips the cache exists to save.
func newOriginTransport() *http.Transport {
	return &http.Transport{
		Proxy: nil, // the origin is reached directly, whatever HTTP_PROXY says
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64, // the default, 2, would make most concurrent misses dial anew
		// Shorter than the origin's own idle timeout (90s, set by the
		// platform): the side that sends requests must give up an idle
		// connection before the server closes it. Otherwise a request can
		// be written onto a connection the origin has just closed; the
		// transport retries only idempotent requests, so a bypassed POST
		// would fail with a 502 it did not deserve.
		IdleConnTimeout:       60 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Ask for and store exactly what the origin sends: with compression
		// on, Go would ask for gzip and transparently decompress it.
		DisableCompression: true,
	}
}
