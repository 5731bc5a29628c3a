// Package fault is the origin's failure switch, for watching the edges'
// stale-if-error at work: while it is on, every traffic request fails with a
// 5xx, or hangs until the client gives up, as a sick origin would.
//
//	POST /fail?mode=error[&status=502]   answer traffic with 503 (or status)
//	POST /fail?mode=hang                 hold traffic requests, answering nothing
//	POST /fail?mode=off                  serve normally again (hung requests then get a 503)
//	GET  /fail                           the current mode
//
// on the admin port, with Authorization: Bearer <ORIGIN_ADMIN_TOKEN>.
package fault

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"scalelab/services/platform"
)

// Modes of the switch.
const (
	Off   = "off"
	Error = "error"
	Hang  = "hang"
)

// Switch holds the current mode. The zero value is not usable; call New.
type Switch struct {
	token string
	mu    sync.Mutex
	mode  string
	code  int
	// released is closed when the mode leaves hang, waking the requests it
	// holds.
	released chan struct{}
	held     atomic.Int64
	gauge    *prometheus.GaugeVec
}

// Held is the number of requests hang mode is holding.
func (s *Switch) Held() int64 { return s.held.Load() }

// New returns a switch, off, whose admin handler requires token (empty:
// the handler refuses every change). It exports scalelab_origin_fault_mode
// on reg.
func New(token string, reg prometheus.Registerer) *Switch {
	s := &Switch{token: token, mode: Off, code: http.StatusServiceUnavailable, released: make(chan struct{}),
		gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scalelab_origin_fault_mode",
			Help: "The failure switch (POST /fail on the admin port): 1 for the current mode (off, error, hang).",
		}, []string{"mode"})}
	reg.MustRegister(s.gauge)
	s.set(Off, s.code)
	return s
}

// Mode returns the current mode and the status of error mode.
func (s *Switch) Mode() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mode, s.code
}

func (s *Switch) set(mode string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mode == Hang && mode != Hang {
		close(s.released)
		s.released = make(chan struct{})
	}
	s.mode, s.code = mode, code
	for _, m := range []string{Off, Error, Hang} {
		v := 0.0
		if m == mode {
			v = 1
		}
		s.gauge.WithLabelValues(m).Set(v)
	}
}

// Wrap fails or holds the requests to next while the switch says so.
func (s *Switch) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		mode, code, released := s.mode, s.code, s.released
		s.mu.Unlock()
		switch mode {
		case Error:
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "origin: failing on purpose (POST /fail?mode=off on the admin port to stop)", code)
			return
		case Hang:
			s.held.Add(1)
			defer s.held.Add(-1)
			select {
			case <-r.Context().Done():
				platform.SetStatus(w, 499)
			case <-released:
				w.Header().Set("Cache-Control", "no-store")
				http.Error(w, "origin: was hanging on purpose", http.StatusServiceUnavailable)
			}
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Handler is the admin endpoint, for the pattern "/fail".
func (s *Switch) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		switch r.Method {
		case http.MethodGet, http.MethodHead:
		case http.MethodPost:
			if s.token == "" {
				platform.WriteJSON(w, http.StatusForbidden, map[string]string{"error": "the failure switch is disabled: set ORIGIN_ADMIN_TOKEN"})
				return
			}
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(s.token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="origin admin"`)
				platform.WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong bearer token"})
				return
			}
			mode := r.URL.Query().Get("mode")
			code := http.StatusServiceUnavailable
			if v := r.URL.Query().Get("status"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 500 || n > 599 {
					platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "status must be a 5xx code"})
					return
				}
				code = n
			}
			switch mode {
			case Off, Error, Hang:
				s.set(mode, code)
			default:
				platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "mode must be error, hang or off"})
				return
			}
		default:
			w.Header().Set("Allow", "GET, HEAD, POST")
			platform.WriteJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "GET or POST"})
			return
		}
		mode, code := s.Mode()
		body := map[string]any{"mode": mode}
		if mode == Error {
			body["status"] = code
		}
		platform.WriteJSON(w, http.StatusOK, body)
	})
}

// Release turns the switch off, answering the requests it holds: for
// shutdown, so that no hung request delays it.
func (s *Switch) Release() { s.set(Off, http.StatusServiceUnavailable) }
