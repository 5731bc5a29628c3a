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
	"net"

	"scalelab/services/api/internal/users"
	"scalelab/services/platform"
)

// Route is the route label the hit path records under: the mux's pattern
// for the handler it stands in for.
const Route = "GET /users/{id}"

// Config is what the hit path needs: the users handler and the instance it
// answers as, beside what every hit path is told by its service. Route is
// svc.HTTP.Route(hitpath.Route), the scalelab_api_http_* series.
type Config struct {
	Users    *users.Handler
	Instance string // X-Served-By
	platform.PlainGetsConfig
}

// Server is the hit path on one listener.
type Server struct {
	users    *users.Handler
	instance string
	conns    *platform.PlainGets // the connection loop, its connections and its drain
}

// New returns a server; Serve runs it.
func New(cfg Config) *Server {
	s := &Server{users: cfg.Users, instance: cfg.Instance}
	s.conns = platform.NewPlainGets(s.answer, cfg.PlainGetsConfig)
	return s
}

// Serve accepts on ln until ctx is cancelled, then drains as the
// platform's servers do (platform.PlainGets).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return s.conns.Serve(ctx, ln)
}
