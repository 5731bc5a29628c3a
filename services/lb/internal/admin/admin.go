// Package admin is the lb's admin API, served on the admin port beside
// /metrics, /healthz, /readyz and /debug/pprof:
//
//	GET  /lb/backends                  pools and backends, health and counters (JSON)
//	POST /lb/backends/{addr}/drain     no new requests or connections for addr
//	POST /lb/backends/{addr}/undrain   addr back in rotation
//
// Every request needs Authorization: Bearer <LB_ADMIN_TOKEN>; with no
// token configured the API is off and answers 403.
package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"scalelab/services/lb/internal/forward"
	"scalelab/services/lb/internal/health"
	"scalelab/services/platform"
)

// Pool is one pool of backends as the API shows it.
type Pool struct {
	Name    string
	Policy  string
	Tracker *health.Tracker
	Metrics *forward.Metrics // may be nil: no request counters
}

// Prefix is the path every admin API route lives under; register the
// handler for it (a pattern ending in a slash), so that no path below it,
// known or not, answers without the token.
const Prefix = "/lb/"

// New returns the API. pools is called on every request, so a routing
// table reloaded meanwhile is what the next request sees.
func New(token string, pools func() []Pool, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /lb/backends", func(w http.ResponseWriter, r *http.Request) {
		platform.WriteJSON(w, http.StatusOK, listing{Pools: describe(pools())})
	})
	setDrained := func(drained bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			addr := r.PathValue("addr")
			found := false
			for _, p := range pools() {
				// Every pool that holds the address: a drained replica
				// gets nothing from any route.
				if p.Tracker.SetDrained(addr, drained) {
					found = true
				}
			}
			if !found {
				platform.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "no backend " + addr + " in any pool"})
				return
			}
			logger.Info("admin api", "backend", addr, "drained", drained, "from", r.RemoteAddr)
			platform.WriteJSON(w, http.StatusOK, map[string]any{"backend": addr, "drained": drained})
		}
	}
	mux.HandleFunc("POST /lb/backends/{addr}/drain", setDrained(true))
	mux.HandleFunc("POST /lb/backends/{addr}/undrain", setDrained(false))
	return authorize(token, mux)
}

// authorize lets through only requests bearing the token. Both sides are
// hashed first, so the comparison takes the same time whatever the
// lengths, and a wrong token learns nothing from it.
func authorize(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" {
			platform.WriteJSON(w, http.StatusForbidden, map[string]string{"error": "LB_ADMIN_TOKEN is not set: the admin API is off"})
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="scalelab-lb"`)
			platform.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong bearer token (Authorization: Bearer <LB_ADMIN_TOKEN>)"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

type listing struct {
	Pools []poolJSON `json:"pools"`
}

type poolJSON struct {
	Name     string        `json:"name"`
	Policy   string        `json:"policy"`
	Backends []backendJSON `json:"backends"`
}

type backendJSON struct {
	Address      string            `json:"address"`
	Weight       int               `json:"weight"`
	State        string            `json:"state"` // available, unhealthy, ejected, drained
	Healthy      bool              `json:"healthy"`
	Drained      bool              `json:"drained"`
	EjectedUntil *time.Time        `json:"ejected_until"`
	InFlight     int64             `json:"in_flight"`
	Requests     map[string]uint64 `json:"requests"` // tries by status class
	Retries      uint64            `json:"retries"`
	Ejections    int               `json:"ejections"`
}

func describe(pools []Pool) []poolJSON {
	out := make([]poolJSON, 0, len(pools))
	for _, p := range pools {
		pj := poolJSON{Name: p.Name, Policy: p.Policy, Backends: []backendJSON{}}
		for _, s := range p.Tracker.Status() {
			b := backendJSON{
				Address:   s.Backend.Addr,
				Weight:    s.Backend.Weight,
				State:     s.State,
				Healthy:   s.Healthy,
				Drained:   s.Drained,
				InFlight:  s.Backend.InFlight(),
				Ejections: s.Ejections,
				Requests:  map[string]uint64{},
			}
			if !s.EjectedUntil.IsZero() {
				until := s.EjectedUntil.UTC()
				b.EjectedUntil = &until
			}
			if p.Metrics != nil {
				c := p.Metrics.Counts(s.Backend)
				b.Requests, b.Retries = c.Requests, c.Retries
			}
			pj.Backends = append(pj.Backends, b)
		}
		out = append(out, pj)
	}
	return out
}
