package platform

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// PlainGets is the server of a hit path (the edge's, the api's): it reads
// request heads in place, lets Answer write the answers it can give on the
// connection itself, and hands the connection, with the bytes read, to
// net/http serving Fallback at the first request Answer does not take (or
// that ParsePlainGet refuses). Both halves drain together
// (HandoffServer). NewPlainGets makes one.
type PlainGets struct {
	// Answer writes the whole answer to c.Req with c's Write, or returns
	// false having written nothing: the request goes to net/http.
	Answer func(c *PlainGetConn) bool
	PlainGetsConfig

	logRequests bool         // the access log is on: Record needs the path and the id
	answered    atomic.Int64 // requests Answer took (the rest were handed over)
	conns       ConnSet
	// stopping is set once the listener has closed (HandoffServer): idle
	// connections end, and every answer ends its own.
	stopping atomic.Bool
}

// PlainGetsConfig is what a hit path's service tells its server. Each hit
// path's Config holds one, beside what its Answer needs.
type PlainGetsConfig struct {
	// Route records every request answered on the connection in the
	// service's scalelab_*_http_* series and access log, as the platform
	// records its servers' requests (svc.HTTP.Route); nil: none.
	Route *Route
	// Fallback serves the connections handed over: the service's handler
	// under the platform's middleware (svc.TrafficHandler), as svc.Run
	// would serve it.
	Fallback http.Handler
	// Draining reports that the service is draining (svc.Draining, during
	// DRAIN_DELAY): every answer then ends its connection (Connection:
	// close), as the platform's server does (drain.go), so that clients
	// stop reusing them before the listener closes. Nil: only once the
	// listener has closed.
	Draining func() bool
	// Logger gets the panics of Answer (as net/http does for a handler, a
	// panic ends its connection, not the process) and the handed-over
	// server's errors. Nil: none.
	Logger *slog.Logger
	Limits // zero ones: DefaultLimits'
	// ShutdownTimeout (SHUTDOWN_TIMEOUT): in-flight requests finish
	// within it.
	ShutdownTimeout time.Duration
}

// NewPlainGets returns the server of answer, with cfg's unset limits and
// logger defaulted once, here.
func NewPlainGets(answer func(c *PlainGetConn) bool, cfg PlainGetsConfig) *PlainGets {
	cfg.Limits = cfg.Limits.OrDefault()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &PlainGets{
		Answer:          answer,
		PlainGetsConfig: cfg,
		logRequests:     cfg.Route != nil && cfg.Route.Logs(context.Background()),
	}
}

// Serve accepts on ln until ctx is cancelled, then drains as the
// platform's servers do: the listener closes, requests in flight get
// ShutdownTimeout to finish, idle connections are closed; the connections
// handed over drain with net/http's Shutdown beside them.
func (p *PlainGets) Serve(ctx context.Context, ln net.Listener) error {
	hs := HandoffServer{
		Handle:          p.Handle,
		Fallback:        p.Fallback,
		Conns:           &p.conns,
		Stopping:        &p.stopping,
		Limits:          p.Limits,
		ShutdownTimeout: p.ShutdownTimeout,
		Logger:          p.Logger,
	}
	return hs.Serve(ctx, ln)
}

// Answered is how many requests were answered on the connection, not
// handed over.
func (p *PlainGets) Answered() int64 { return p.answered.Load() }

// draining reports whether an answer must end its connection: the service
// drains (from DRAIN_DELAY on), or this server's listener has closed (a
// server run without a service, or past DRAIN_DELAY).
func (p *PlainGets) draining() bool {
	return p.stopping.Load() || (p.Draining != nil && p.Draining())
}
