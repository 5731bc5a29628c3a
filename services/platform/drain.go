package platform

import "net/http"

// TrafficHandler is h as the service's traffic server runs it: with a
// request id, and closing each connection after its answer once the drain
// has begun. A server of its own (AddServer) that hands requests to
// net/http gives it this handler, so that both serve alike.
func (s *Service) TrafficHandler(h http.Handler) http.Handler {
	return s.closeWhileDraining(WithRequestID(h))
}

// closeWhileDraining answers every request with Connection: close once the
// drain has begun, so that clients (a load balancer's keep-alive pool
// above all) stop sending on their connections during DRAIN_DELAY, and
// the server closes each one right after its answer. Without it the
// connections stay pooled until Shutdown closes the idle ones, and a
// request written onto one as it closes is lost: a non-idempotent one
// cannot be retried. This is per response on purpose:
// http.Server.SetKeepAlivesEnabled(false) would close the idle connections
// at once, which is the very race.
func (s *Service) closeWhileDraining(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

// UnlessDraining serves h until the drain begins, then answers 503: the
// check a load balancer makes on the traffic port (the api's GET /) fails
// during DRAIN_DELAY, so the balancer takes the replica out of rotation
// before its listener closes, as /readyz does for orchestrators.
func (s *Service) UnlessDraining(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			w.Header().Set("Retry-After", "1")
			WriteProblem(w, r, http.StatusServiceUnavailable, s.Name+" is draining: shutting down, send to another replica")
			return
		}
		h.ServeHTTP(w, r)
	})
}
