// Package hitpath serves the api's traffic listener: it answers
// GET /users/{id} (no query) on the connection itself, and hands every
// other request, with its connection, to a net/http server running the
// api's whole handler (platform.HandoffServer, as the edge's hit path and
// the lb's fast path do).
//
// Why: a cache hit costs the api one pipelined Redis MGET, and net/http's
// machinery around it cost more than that: a header map per request and
// another per answer, a context, a goroutine watching the connection, the
// middleware's wrappers, and a buffered writer flushed in two writes. Here
// a hit is one read of the request, a parse in place, the same
// cache-aside read the handler makes (users.Handler.ReadUser: trust key,
// breaker, fills, all of it), and one write of a head rendered in place.
//
// The answer is the handler's, field for field: a found user is written
// here; any other result (no such user, a failed shard) is written by the
// handler's own code (users.Handler.WriteRead) into a recorder, so the
// rules live in one place. The request is recorded in the same metrics
// series and access log as the handler's route.
package hitpath

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"scalelab/services/api/internal/users"
	"scalelab/services/platform"
)

// Route is the route label the hit path records under: the mux's pattern
// for the handler it stands in for.
const Route = "GET /users/{id}"

// Config is what the hit path needs.
type Config struct {
	Users    *users.Handler
	Instance string // X-Served-By
	// Route records every request answered here in the
	// scalelab_api_http_* series and the access log
	// (svc.HTTP.Route(hitpath.Route)); nil: none.
	Route *platform.Route
	// Fallback serves the connections handed over: the api's routes
	// under the platform's middleware, as svc.Run would serve them.
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
	answered    atomic.Int64 // requests answered here (the rest were handed over)
	conns       platform.PlainGets
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
	s := &Server{cfg: cfg, logRequests: cfg.Route != nil && cfg.Route.Logs(context.Background())}
	s.conns.Answer = s.answer
	s.conns.CloseAfterAnswer = cfg.Draining
	s.conns.HeaderTimeout, s.conns.IdleTimeout, s.conns.Logger = cfg.HeaderTimeout, cfg.IdleTimeout, cfg.Logger
	return s
}

// Serve accepts on ln until ctx is cancelled, then drains as the
// platform's servers do (platform.HandoffServer).
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
