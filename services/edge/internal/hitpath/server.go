// Package hitpath serves the edge's traffic listener: it answers plain hits
// (a GET that a fresh, whole, unvaried stored response answers, asked with
// nothing that could change the answer; httpcache's PlainHit) on the
// connection itself, and hands every other request, with its connection,
// to a net/http server running the edge's whole handler.
//
// Why: on a hit the cache's own work is a map lookup and one write, and
// net/http's machinery around it cost more than that: a header map per
// request and another per answer, a context, a goroutine that watches the
// connection while the handler runs, the request metrics' wrappers, and a
// flush of a buffered writer in two writes. Here a hit is one read of the
// request, a parse in place, and one write (writev for a large body) of a
// head mostly rendered when the entry was stored (httpcache's plainhit.go).
// The answer is the one the handler would give, byte for byte but for the
// order of its fields; the handler's tests still cover every rule.
//
// The parser is strict in the easy direction: it answers only heads it
// reads one single way; any other head goes to net/http, which parses it
// again from the start and answers or refuses it as before.
package hitpath

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"scalelab/services/edge/internal/httpcache"
	"scalelab/services/platform"
)

// Config is what the hit path needs.
type Config struct {
	Cache *httpcache.Cache
	// Route records every request it answers in the scalelab_edge_http_*
	// series and the access log, as the platform records its servers'
	// (svc.HTTP.Route("/")); nil: none.
	Route *platform.Route
	// Fallback serves the connections handed over: the edge's handler
	// under the platform's middleware, as the platform would serve it.
	Fallback http.Handler
	// Draining reports that the service is draining (svc.Draining, during
	// DRAIN_DELAY): every answer then closes its connection, so clients
	// stop reusing them before the listener closes. Nil: never.
	Draining func() bool
	Logger   *slog.Logger

	HeaderTimeout   time.Duration // a request head must arrive within this (5 s, as the platform's server)
	IdleTimeout     time.Duration // keep-alive wait for the next request (90 s)
	MaxHeaderBytes  int           // the handed-over server's limit (64 KiB)
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT: in-flight requests finish within it
}

// Server is the hit path on one listener.
type Server struct {
	cfg         Config
	logRequests bool         // the access log is on: Record needs the path and the id
	answered    atomic.Int64 // plain hits answered here (the rest were handed over)

	conns platform.PlainGets // the connection loop, its connections and its drain
}

// New returns a server; Serve runs it.
func New(cfg Config) *Server {
	if cfg.HeaderTimeout <= 0 {
		cfg.HeaderTimeout = 5 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 90 * time.Second
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = 64 << 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:         cfg,
		logRequests: cfg.Route != nil && cfg.Route.Logs(context.Background()),
	}
	s.conns.Answer = s.answer
	s.conns.CloseAfterAnswer = cfg.Draining
	s.conns.HeaderTimeout, s.conns.IdleTimeout, s.conns.Logger = cfg.HeaderTimeout, cfg.IdleTimeout, cfg.Logger
	return s
}

// Serve accepts on ln until ctx is cancelled, then drains as the
// platform's servers do: the listener closes, requests in flight get
// ShutdownTimeout to finish, idle connections are closed; the connections
// handed over drain with net/http's Shutdown beside them.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := platform.HandoffServer{
		Handle:          s.conns.Handle,
		Fallback:        s.cfg.Fallback,
		Conns:           &s.conns.Conns,
		Draining:        &s.conns.Draining,
		HeaderTimeout:   s.cfg.HeaderTimeout,
		IdleTimeout:     s.cfg.IdleTimeout,
		MaxHeaderBytes:  s.cfg.MaxHeaderBytes,
		ShutdownTimeout: s.cfg.ShutdownTimeout,
		Logger:          s.cfg.Logger,
	}
	return hs.Serve(ctx, ln)
}
