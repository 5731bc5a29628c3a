package platform

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newTestMetrics(t *testing.T, logs io.Writer) (*HTTPMetrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	var logger *slog.Logger
	if logs != nil {
		logger = NewLogger(logs, slog.LevelInfo, "test")
	}
	return NewHTTPMetrics(reg, "test", logger), reg
}

// histogramCount returns the sample count of the duration histogram series
// with the given labels, or -1 when there is no such series.
func histogramCount(t *testing.T, reg *prometheus.Registry, route, code string) int64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "scalelab_test_http_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["route"] == route && labels["code"] == code {
				return int64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return -1
}

// unwrapWriter is a middleware's own ResponseWriter wrapper that follows the
// Unwrap convention.
type unwrapWriter struct{ http.ResponseWriter }

func (u unwrapWriter) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// plainWriter implements only http.ResponseWriter: it cannot flush or hijack.
type plainWriter struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (p *plainWriter) Header() http.Header         { return p.h }
func (p *plainWriter) Write(b []byte) (int, error) { return p.body.Write(b) }
func (p *plainWriter) WriteHeader(code int)        { p.code = code }

func TestHTTPMetricsWrapLabels(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		handler    http.HandlerFunc
		wantMethod string
		wantCode   string
		wantSent   int // status the client sees; 0 to skip
	}{
		{"write body", "GET", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }, "GET", "2xx", 200},
		{"nothing written", "GET", func(w http.ResponseWriter, r *http.Request) {}, "GET", "2xx", 200},
		{"created", "POST", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201) }, "POST", "2xx", 201},
		{"redirect", "GET", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/x", http.StatusFound)
		}, "GET", "3xx", 302},
		{"not found", "GET", http.NotFound, "GET", "4xx", 404},
		{"problem 503", "PUT", func(w http.ResponseWriter, r *http.Request) {
			WriteProblem(w, r, 503, "down")
		}, "PUT", "5xx", 503},
		{"early hints then 200", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusOK)
		}, "GET", "2xx", 0}, // httptest.ResponseRecorder keeps the 103
		{"second WriteHeader ignored", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			w.WriteHeader(http.StatusInternalServerError)
		}, "GET", "2xx", 200},
		{"SetStatus 499 without writing", "GET", func(w http.ResponseWriter, r *http.Request) {
			SetStatus(w, 499)
		}, "GET", "499", 200},
		{"SetStatus 499 after writing", "GET", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "partial")
			SetStatus(w, 499)
		}, "GET", "499", 200},
		{"SetStatus through a wrapper", "DELETE", func(w http.ResponseWriter, r *http.Request) {
			SetStatus(unwrapWriter{w}, 499)
		}, "DELETE", "499", 200},
		{"HEAD", "HEAD", func(w http.ResponseWriter, r *http.Request) {}, "HEAD", "2xx", 200},
		{"PATCH", "PATCH", func(w http.ResponseWriter, r *http.Request) {}, "PATCH", "2xx", 200},
		{"OPTIONS", "OPTIONS", func(w http.ResponseWriter, r *http.Request) {}, "OPTIONS", "2xx", 200},
		{"PURGE", "PURGE", func(w http.ResponseWriter, r *http.Request) {}, "PURGE", "2xx", 200},
		{"unknown method", "BREW", func(w http.ResponseWriter, r *http.Request) {}, "other", "2xx", 200},
		{"lower-case method", "get", func(w http.ResponseWriter, r *http.Request) {}, "other", "2xx", 200},
		{"CONNECT", "CONNECT", func(w http.ResponseWriter, r *http.Request) {}, "other", "2xx", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, reg := newTestMetrics(t, nil)
			const route = "GET /items/{id}"
			h := m.Wrap(route, tt.handler)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, "/items/42", nil))

			if tt.wantSent != 0 && rec.Code != tt.wantSent {
				t.Errorf("client saw %d, want %d", rec.Code, tt.wantSent)
			}
			if got := testutil.ToFloat64(m.requests.WithLabelValues(route, tt.wantMethod, tt.wantCode)); got != 1 {
				t.Errorf("requests{route=%q,method=%q,code=%q} = %v, want 1", route, tt.wantMethod, tt.wantCode, got)
			}
			if n := testutil.CollectAndCount(m.requests); n != 1 {
				t.Errorf("requests has %d series, want 1", n)
			}
			if n := histogramCount(t, reg, route, tt.wantCode); n != 1 {
				t.Errorf("duration{route=%q,code=%q} count = %d, want 1", route, tt.wantCode, n)
			}
			if got := testutil.ToFloat64(m.inFlight.WithLabelValues(route)); got != 0 {
				t.Errorf("in flight = %v after the request, want 0", got)
			}
		})
	}
}

func TestHTTPMetricsCountsAccumulate(t *testing.T) {
	m, reg := newTestMetrics(t, nil)
	mux := http.NewServeMux()
	m.Handle(mux, "GET /a/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			http.NotFound(w, r)
		}
	}))
	for _, path := range []string{"/a/1", "/a/2", "/a/3", "/a/missing"} {
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}
	// The route template is the label, never the raw path.
	expected := `
# HELP scalelab_test_http_requests_total HTTP requests served, by route template, method and status class.
# TYPE scalelab_test_http_requests_total counter
scalelab_test_http_requests_total{code="2xx",method="GET",route="GET /a/{id}"} 3
scalelab_test_http_requests_total{code="4xx",method="GET",route="GET /a/{id}"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected), "scalelab_test_http_requests_total"); err != nil {
		t.Error(err)
	}
}

func TestHTTPMetricsInFlight(t *testing.T) {
	m, _ := newTestMetrics(t, nil)
	const route = "GET /slow"
	entered := make(chan struct{})
	release := make(chan struct{})
	h := m.Wrap(route, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	gauge := m.inFlight.WithLabelValues(route)

	const n = 3
	done := make(chan struct{}, n)
	for range n {
		go func() {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/slow", nil))
			done <- struct{}{}
		}()
	}
	for range n {
		<-entered
	}
	if got := testutil.ToFloat64(gauge); got != n {
		t.Errorf("in flight = %v with %d requests blocked, want %d", got, n, n)
	}
	close(release)
	for range n {
		<-done
	}
	if got := testutil.ToFloat64(gauge); got != 0 {
		t.Errorf("in flight = %v after the requests, want 0", got)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues(route, "GET", "2xx")); got != n {
		t.Errorf("requests = %v, want %d", got, n)
	}
}

func TestHTTPMetricsInFlightAfterPanic(t *testing.T) {
	m, _ := newTestMetrics(t, nil)
	h := m.Wrap("GET /boom", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	func() {
		defer func() { recover() }()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/boom", nil))
	}()
	if got := testutil.ToFloat64(m.inFlight.WithLabelValues("GET /boom")); got != 0 {
		t.Errorf("in flight = %v after a panicking handler, want 0", got)
	}
}

func TestHTTPMetricsFlush(t *testing.T) {
	tests := []struct {
		name      string
		write     bool
		wantCode  int
		wantBody  string
		wantClass string
	}{
		{"after a write", true, 200, "chunk", "2xx"},
		{"before any write", false, 200, "", "2xx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := newTestMetrics(t, nil)
			rec := httptest.NewRecorder()
			var flushErr error
			flushedBeforeReturn := false
			h := m.Wrap("GET /stream", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.write {
					io.WriteString(w, "chunk")
				}
				flushErr = http.NewResponseController(w).Flush()
				flushedBeforeReturn = rec.Flushed
			}))
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/stream", nil))

			if flushErr != nil {
				t.Fatalf("Flush through the recorder: %v", flushErr)
			}
			if !flushedBeforeReturn {
				t.Error("the underlying writer was not flushed")
			}
			if rec.Code != tt.wantCode || rec.Body.String() != tt.wantBody {
				t.Errorf("client saw %d %q, want %d %q", rec.Code, rec.Body, tt.wantCode, tt.wantBody)
			}
			if got := testutil.ToFloat64(m.requests.WithLabelValues("GET /stream", "GET", tt.wantClass)); got != 1 {
				t.Errorf("requests{code=%q} = %v, want 1", tt.wantClass, got)
			}
		})
	}
}

func TestHTTPMetricsFlusherInterface(t *testing.T) {
	m, _ := newTestMetrics(t, nil)
	rec := httptest.NewRecorder()
	h := m.Wrap("GET /f", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := w.(http.Flusher)
		if !ok {
			t.Error("wrapped writer is not an http.Flusher")
			return
		}
		f.Flush()
	}))
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/f", nil))
	if !rec.Flushed {
		t.Error("the underlying writer was not flushed")
	}
}

func TestHTTPMetricsFlushNotSupported(t *testing.T) {
	m, _ := newTestMetrics(t, nil)
	pw := &plainWriter{h: http.Header{}}
	var flushErr error
	h := m.Wrap("GET /stream", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		flushErr = http.NewResponseController(w).Flush()
		if flushErr != nil {
			WriteProblem(w, r, http.StatusNotImplemented, "cannot stream")
		}
	}))
	h.ServeHTTP(pw, httptest.NewRequest("GET", "/stream", nil))
	if !errors.Is(flushErr, http.ErrNotSupported) {
		t.Fatalf("Flush on a writer that cannot flush = %v, want http.ErrNotSupported", flushErr)
	}
	// The failed flush committed nothing, so the status written next counts.
	if got := testutil.ToFloat64(m.requests.WithLabelValues("GET /stream", "GET", "5xx")); got != 1 {
		t.Errorf("requests{code=5xx} = %v, want 1", got)
	}
}

func TestHTTPMetricsHijackThroughRecorder(t *testing.T) {
	m, _ := newTestMetrics(t, nil)
	h := m.Wrap("GET /ws", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack through the recorder: %v", err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
		brw.Flush()
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "hijacked" {
		t.Errorf("body = %q, want hijacked", body)
	}
}

func TestHTTPMetricsAccessLog(t *testing.T) {
	var logs bytes.Buffer
	m, _ := newTestMetrics(t, &logs)
	h := WithRequestID(m.Wrap("GET /items/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "12345")
		SetStatus(w, 499)
	})))
	req := httptest.NewRequest("GET", "/items/7", nil)
	req.Header.Set(RequestIDHeader, "req-1")
	h.ServeHTTP(httptest.NewRecorder(), req)

	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("access log is not one JSON line: %v: %s", err, logs.String())
	}
	want := map[string]any{
		"msg": "request", "service": "test", "request_id": "req-1", "method": "GET",
		"path": "/items/7", "route": "GET /items/{id}", "status": float64(499), "bytes": float64(5),
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v", k, line[k], v)
		}
	}
}

func TestStatusClass(t *testing.T) {
	tests := []struct {
		status int
		want   string
	}{
		{-1, "other"},
		{0, "other"},
		{99, "other"},
		{100, "1xx"},
		{101, "1xx"},
		{200, "2xx"},
		{204, "2xx"},
		{299, "2xx"},
		{301, "3xx"},
		{304, "3xx"},
		{400, "4xx"},
		{404, "4xx"},
		{498, "4xx"},
		{499, "499"},
		{500, "5xx"},
		{503, "5xx"},
		{599, "5xx"},
		{600, "other"},
		{999, "other"},
	}
	for _, tt := range tests {
		if got := StatusClass(tt.status); got != tt.want {
			t.Errorf("StatusClass(%d) = %q, want %q", tt.status, got, tt.want)
		}
	}
}

func TestMethodLabel(t *testing.T) {
	tests := []struct{ in, want string }{
		{"GET", "GET"}, {"HEAD", "HEAD"}, {"POST", "POST"}, {"PUT", "PUT"}, {"PATCH", "PATCH"},
		{"DELETE", "DELETE"}, {"OPTIONS", "OPTIONS"}, {"PURGE", "PURGE"},
		{"CONNECT", "other"}, {"TRACE", "other"}, {"get", "other"}, {"", "other"},
		{"PROPFIND", "other"}, {strings.Repeat("X", 1000), "other"},
	}
	for _, tt := range tests {
		if got := methodLabel(tt.in); got != tt.want {
			t.Errorf("methodLabel(%.20q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSetStatusOnPlainWriterIsNoOp(t *testing.T) {
	pw := &plainWriter{h: http.Header{}}
	SetStatus(pw, 499)               // must neither panic nor loop
	SetStatus(unwrapWriter{pw}, 499) // unwraps to a writer that is not a recorder
	if pw.code != 0 {
		t.Errorf("SetStatus wrote a status to the client: %d", pw.code)
	}
}

// A server that is not an http.Handler records its requests through a
// Route: the same series and the same access log line as Wrap writes.
func TestRouteRecord(t *testing.T) {
	var logs bytes.Buffer
	m, reg := newTestMetrics(t, &logs)
	rt := m.Route("/")
	if !rt.Logs(t.Context()) {
		t.Fatal("Logs = false with an info logger")
	}
	start := rt.Start()
	if n := testutil.ToFloat64(m.inFlight.WithLabelValues("/")); n != 1 {
		t.Errorf("in flight after Start = %v, want 1", n)
	}
	rt.Record(t.Context(), start, Served{Method: "POST", Path: "/a", RequestID: "req-2", Status: 502, Bytes: 42})
	if n := testutil.ToFloat64(m.inFlight.WithLabelValues("/")); n != 0 {
		t.Errorf("in flight after Record = %v, want 0", n)
	}
	if n := testutil.ToFloat64(m.requests.WithLabelValues("/", "POST", "5xx")); n != 1 {
		t.Errorf("requests{POST,5xx} = %v, want 1", n)
	}
	if n := histogramCount(t, reg, "/", "5xx"); n != 1 {
		t.Errorf("duration samples{5xx} = %d, want 1", n)
	}
	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("access log is not one JSON line: %v: %s", err, logs.String())
	}
	want := map[string]any{"msg": "request", "request_id": "req-2", "method": "POST", "path": "/a",
		"route": "/", "status": float64(502), "bytes": float64(42)}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v", k, line[k], v)
		}
	}
	quiet, _ := newTestMetrics(t, nil)
	if quiet.Route("/").Logs(t.Context()) {
		t.Error("Logs = true without a logger")
	}
}
