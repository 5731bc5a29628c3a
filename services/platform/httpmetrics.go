package platform

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HTTPMetrics records requests by route template (never the raw path, which
// would make label values unbounded) and by status class.
type HTTPMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec
	logger   *slog.Logger
}

// NewHTTPMetrics registers scalelab_<service>_http_* metrics on reg.
func NewHTTPMetrics(reg prometheus.Registerer, service string, logger *slog.Logger) *HTTPMetrics {
	ns := "scalelab_" + service
	m := &HTTPMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "http_requests_total",
			Help: "HTTP requests served, by route template, method and status class.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Name: "http_request_duration_seconds",
			Help:    "Time from request to the end of the response, by route template and status class.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "code"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Name: "http_requests_in_flight",
			Help: "Requests being served now, by route template.",
		}, []string{"route"}),
		logger: logger,
	}
	reg.MustRegister(m.requests, m.duration, m.inFlight)
	return m
}

// Handle registers h on mux under pattern, instrumented with the pattern as
// its route label.
func (m *HTTPMetrics) Handle(mux *http.ServeMux, pattern string, h http.Handler) {
	mux.Handle(pattern, m.Wrap(pattern, h))
}

// Wrap instruments h under the given route label and writes an access log line.
func (m *HTTPMetrics) Wrap(route string, h http.Handler) http.Handler {
	inFlight := m.inFlight.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		inFlight.Inc()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			inFlight.Dec()
			status := rec.Status()
			class := StatusClass(status)
			elapsed := time.Since(start)
			m.requests.WithLabelValues(route, methodLabel(r.Method), class).Inc()
			m.duration.WithLabelValues(route, class).Observe(elapsed.Seconds())
			if m.logger != nil {
				m.logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
					slog.String("request_id", RequestID(r.Context())),
					slog.String("method", r.Method),
					slog.String("path", r.URL.Path),
					slog.String("route", route),
					slog.Int("status", status),
					slog.Int64("bytes", rec.bytes),
					slog.Duration("duration", elapsed))
			}
		}()
		h.ServeHTTP(rec, r)
	})
}

// StatusClass maps 200 to "2xx"; 499 (client went away) keeps its own label.
func StatusClass(status int) string {
	if status == 499 {
		return "499"
	}
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status/100) + "xx"
}

// methodLabel keeps the method label bounded: clients may send any token.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, "PURGE":
		return m
	}
	return "other"
}

// statusRecorder remembers the status and size of a response. Unwrap lets
// http.ResponseController reach Flush and Hijack on the real writer, which
// streaming and WebSocket proxying need.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) Flush() { _ = s.FlushError() }

// FlushError is what http.ResponseController.Flush calls: it reports
// http.ErrNotSupported when the real writer cannot flush, instead of the
// silent success that Flush alone would give.
func (s *statusRecorder) FlushError() error {
	err := http.NewResponseController(s.ResponseWriter).Flush()
	if s.status == 0 && !errors.Is(err, http.ErrNotSupported) {
		s.status = http.StatusOK
	}
	return err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Status is the status sent, or 200 when the handler wrote nothing.
func (s *statusRecorder) Status() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}

// SetStatus lets a handler record a status it could not send, such as 499
// for a client that went away before the answer.
func SetStatus(w http.ResponseWriter, status int) {
	for {
		switch t := w.(type) {
		case *statusRecorder:
			t.status = status
			return
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return
		}
	}
}

// CountingWriter counts the body bytes written through it, for handlers
// that meter what they serve (bytes from cache, bytes from disk).
type CountingWriter struct {
	http.ResponseWriter
	N int64
}

func (c *CountingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.N += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the writer below.
func (c *CountingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
