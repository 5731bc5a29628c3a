package platform

import (
	"context"
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
	rt := m.Route(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := rt.Start()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			rt.Record(r.Context(), start, Served{
				Method:    r.Method,
				Path:      r.URL.Path,
				RequestID: RequestID(r.Context()),
				Status:    rec.Status(),
				Bytes:     rec.bytes,
			})
		}()
		h.ServeHTTP(rec, r)
	})
}

// Route records the requests of one route label. Wrap uses it for
// handlers; a server that is not an http.Handler (the lb's fast path)
// calls it directly: Start when a request begins, Record once it is
// answered.
type Route struct {
	m        *HTTPMetrics
	route    string
	inFlight prometheus.Gauge
}

// Served is a request as the metrics and the access log see it.
type Served struct {
	Method    string
	Path      string // logged only
	RequestID string // logged only
	Status    int
	Bytes     int64 // of the response body
}

// Route returns the recorder of the given route label.
func (m *HTTPMetrics) Route(route string) *Route {
	return &Route{m: m, route: route, inFlight: m.inFlight.WithLabelValues(route)}
}

// Logs reports whether Record writes an access log line, so that a caller
// can skip working out what only the log shows (the path, the id).
func (rt *Route) Logs(ctx context.Context) bool {
	return rt.m.logger != nil && rt.m.logger.Enabled(ctx, slog.LevelInfo)
}

// Start counts a request in flight and returns its start time for Record.
func (rt *Route) Start() time.Time {
	rt.inFlight.Inc()
	return time.Now()
}

// Record ends a request Start began: it is counted by method and status
// class, its duration observed, and the access log gets its line.
func (rt *Route) Record(ctx context.Context, start time.Time, r Served) {
	rt.inFlight.Dec()
	m := rt.m
	class := StatusClass(r.Status)
	elapsed := time.Since(start)
	m.requests.WithLabelValues(rt.route, methodLabel(r.Method), class).Inc()
	m.duration.WithLabelValues(rt.route, class).Observe(elapsed.Seconds())
	if m.logger != nil {
		m.logger.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.String("request_id", r.RequestID),
			slog.String("method", r.Method),
			slog.String("path", r.Path),
			slog.String("route", rt.route),
			slog.Int("status", r.Status),
			slog.Int64("bytes", r.Bytes),
			slog.Duration("duration", elapsed))
	}
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
