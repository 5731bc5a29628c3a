// Package fastpath is the lb's purpose-built HTTP/1.1 forwarding engine
// (LB_ENGINE=fast): it reads request heads in place, writes the backend a
// fresh head and small bodies in one write on a pooled keep-alive
// connection, and streams the answer back, with one goroutine per client
// connection and none per backend connection.
//
// The std engine (internal/proxy: httputil.ReverseProxy over
// http.Transport) spends most of its CPU in machinery a proxy does not
// need: a server and a transport that each buffer and flush separately, a
// read and a write goroutine per backend connection, http.Header maps and
// contexts for every request. The fast path keeps everything the lb
// promises, because the rules are internal/forward's, the same for both:
// the same balancer.Policy and health pool, retries within the same
// budget, the connect, try and request timeouts, the same 502/503/504
// answers, X-Forwarded-*, X-Request-Id, Via, hop-by-hop removal, 499 for a
// client that leaves, and the same metrics. The accept-and-drain loop and
// the request metrics and access log are the platform's.
//
// Why not valyala/fasthttp, which a quick loop showed fast: its server
// and client each keep their own idea of framing, header normalisation
// and retries, which is exactly where smuggling lives, and its client
// buffers whole bodies unless told otherwise. A few hundred lines that
// parse strictly and write canonical heads are easier to check than a
// large dependency's defaults. What the fast path does not speak is handed,
// connection and all, to a net/http server with the std engine (see
// platform.HandoffListener).
package fastpath

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/lb/internal/forward"
	"scalelab/services/platform"
)

// Config is what the fast path shares with the std engine, and its limits.
type Config struct {
	Pool    forward.Pool
	Policy  balancer.Policy
	Metrics *forward.Metrics
	Forward forward.Config
	// ConnectTimeout bounds a dial to a backend (LB_CONNECT_TIMEOUT).
	ConnectTimeout time.Duration
	Logger         *slog.Logger
	// Route records every request in the scalelab_lb_http_* series and
	// the access log, the platform's record of every HTTP request
	// (svc.HTTP.Route("/")); nil: none.
	Route *platform.Route
	// Fallback serves the connections the fast path hands over; nil
	// answers them 501 instead.
	Fallback http.Handler

	// Draining reports that the service is draining (svc.Draining, during
	// DRAIN_DELAY, before the listener closes): from then on every answer
	// says Connection: close, as the std engine's do, so that keep-alive
	// clients leave before the listener closes. nil: only the server's own
	// stop does.
	Draining func() bool

	platform.Limits               // zero ones: platform.DefaultLimits', as the platform's server
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT: in-flight requests finish within it
}

// Server is the fast engine on one listener.
type Server struct {
	cfg          Config
	readsRequest bool // the policy needs a full *http.Request
	logRequests  bool // the access log is on: it needs the path and the id
	picker       *forward.Picker
	backends     *pool
	// The errors of a try cut short by either timeout, made once.
	tryLimit, requestLimit error

	conns    platform.ConnSet
	draining atomic.Bool
}

// New returns a server; Serve runs it.
func New(cfg Config) *Server {
	cfg.Limits = cfg.Limits.OrDefault()
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:          cfg,
		readsRequest: balancer.ReadsRequest(cfg.Policy),
		logRequests:  cfg.Route != nil && cfg.Route.Logs(context.Background()),
		backends:     newPool(),
		picker:       forward.NewPicker(cfg.Policy, &cfg.Forward, cfg.Metrics),
	}
	s.tryLimit, s.requestLimit = cfg.Forward.Timeouts()
	return s
}

// Serve accepts on ln until ctx is cancelled, then drains as the
// platform's servers do: the listener closes, requests in flight get
// ShutdownTimeout to finish, idle connections are closed.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	fallback := s.cfg.Fallback
	if fallback == nil {
		fallback = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "501 Not Implemented: not supported by LB_ENGINE=fast", http.StatusNotImplemented)
		})
	}
	sweepDone := make(chan struct{})
	go s.sweep(sweepDone)
	hs := platform.HandoffServer{
		Handle:          func(conn net.Conn, handoff *platform.HandoffListener) { s.newConn(conn, handoff).serve() },
		Fallback:        fallback,
		Conns:           &s.conns,
		Stopping:        &s.draining,
		Limits:          s.cfg.Limits,
		ShutdownTimeout: s.cfg.ShutdownTimeout,
		Logger:          s.cfg.Logger,
	}
	err := hs.Serve(ctx, ln)
	s.backends.close()
	close(sweepDone)
	return err
}

// sweep closes idle backend connections that aged out, or whose backend
// discovery dropped.
func (s *Server) sweep(done chan struct{}) {
	t := time.NewTicker(backendIdleTimeout / 4)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			avail := s.cfg.Pool.Available()
			s.backends.sweep(now, func(b *balancer.Backend) bool {
				for _, a := range avail {
					if a == b {
						return true
					}
				}
				return false
			})
		}
	}
}

// closingAll reports whether every answer now closes its connection: the
// service is draining, or this server is stopping.
func (s *Server) closingAll() bool {
	return s.draining.Load() || (s.cfg.Draining != nil && s.cfg.Draining())
}
