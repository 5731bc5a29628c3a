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
	"net"

	"scalelab/services/edge/internal/httpcache"
	"scalelab/services/platform"
)

// Config is what the hit path needs: the cache it answers from, and what
// every hit path is told by its service (Route: svc.HTTP.Route("/"), the
// scalelab_edge_http_* series; Fallback: the edge's handler under the
// platform's middleware).
type Config struct {
	Cache *httpcache.Cache
	platform.PlainGetsConfig
}

// Server is the hit path on one listener.
type Server struct {
	cache *httpcache.Cache
	conns *platform.PlainGets // the connection loop, its connections and its drain
}

// New returns a server; Serve runs it.
func New(cfg Config) *Server {
	s := &Server{cache: cfg.Cache}
	s.conns = platform.NewPlainGets(s.answer, cfg.PlainGetsConfig)
	return s
}

// Serve accepts on ln until ctx is cancelled, then drains as the
// platform's servers do (platform.PlainGets).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return s.conns.Serve(ctx, ln)
}
