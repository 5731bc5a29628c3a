// Package proxy is the lb's net/http engine (LB_ENGINE=std): it forwards
// with one httputil.ReverseProxy over http.Transport, under the rules of
// internal/forward (pick, retry, limits, the lb's own answers).
package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/lb/internal/forward"
	"scalelab/services/platform"
)

// Handler forwards each request to a backend.
type Handler struct {
	pool      forward.Pool
	picker    *forward.Picker
	transport http.RoundTripper
	metrics   *forward.Metrics
	logger    *slog.Logger
	cfg       forward.Config
	rp        *httputil.ReverseProxy
	// The errors of a try cut short by either timeout, made once.
	tryLimit, requestLimit *forward.TimeoutError
}

// New builds the handler; transport is shared by every backend.
func New(pool forward.Pool, policy balancer.Policy, transport http.RoundTripper, metrics *forward.Metrics, logger *slog.Logger, cfg forward.Config) *Handler {
	h := &Handler{pool: pool, picker: forward.NewPicker(policy, &cfg, metrics), transport: transport, metrics: metrics, logger: logger, cfg: cfg}
	h.tryLimit, h.requestLimit = cfg.Timeouts()
	// One ReverseProxy for every request and backend: it is safe for
	// concurrent use, and the per-request target travels in the context.
	// Its transport is the handler itself, which is where retries happen:
	// ReverseProxy calls RoundTrip once and writes nothing to the client
	// before it returns, so every try can be decided before a header is
	// sent.
	h.rp = &httputil.ReverseProxy{
		Rewrite:        h.rewrite,
		Transport:      roundTripper{h},
		ModifyResponse: modifyResponse,
		ErrorHandler:   h.errorHandler,
		BufferPool:     bufferPool{},
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	return h
}

// attempt carries the chosen backend from ServeHTTP to Rewrite and
// RoundTrip, and the outcome back, through the request context
// (ReverseProxy gives those hooks nothing else in common).
type attempt struct {
	backend *balancer.Backend // of the current (finally: last) try
	start   time.Time
	tries   int
	status  int
	body    *clientBody // nil for a request without a body
	// inBackend is the time spent in tries, in nanoseconds; the rest of
	// the request is the proxy's overhead.
	inBackend atomic.Int64
}

type attemptKey struct{}

func attemptFrom(ctx context.Context) *attempt {
	a, _ := ctx.Value(attemptKey{}).(*attempt)
	return a
}

// ServeHTTP picks the backend here rather than in Rewrite: Rewrite cannot
// fail, and with no backend the client deserves a 503 that says so, not a
// transport error dressed as 502.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if len(h.cfg.Trusted) > 0 {
		client := h.cfg.Trusted.ClientAddr(peerIP(r.RemoteAddr), r.Header.Values("X-Forwarded-For"))
		r = r.WithContext(balancer.WithClientAddr(r.Context(), client))
	}
	b, first := h.picker.Pick(r, h.pool.Available())
	if b == nil {
		if first != nil {
			h.metrics.ObserveLimited()
			http.Error(w, forward.AllFull(first.Addr, h.cfg.MaxRequestsPerBackend), http.StatusServiceUnavailable)
			return
		}
		http.Error(w, forward.NoBackend, http.StatusServiceUnavailable)
		return
	}
	body, ok := h.guardBody(w, r)
	if !ok {
		return
	}
	if h.cfg.Budget != nil {
		h.cfg.Budget.Request()
	}
	a := &attempt{backend: b, start: start, body: body}
	// Deferred, because ReverseProxy panics with http.ErrAbortHandler when
	// the backend dies in the middle of a body; the books must still balance.
	defer func() {
		h.metrics.ObserveOverhead(time.Since(start) - time.Duration(a.inBackend.Load()))
	}()
	h.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), attemptKey{}, a)))
}

// rewrite builds the outbound request. Before it runs, ReverseProxy has
// already removed hop-by-hop headers and any X-Forwarded-* the client sent.
func (h *Handler) rewrite(pr *httputil.ProxyRequest) {
	a := attemptFrom(pr.In.Context())
	// SetURL also sets the outbound Host header to the backend's host:port,
	// which is what a backend behind a plain address expects; the client's
	// Host is still available to it as X-Forwarded-Host.
	pr.SetURL(a.backend.URL)
	setForwarded(h.cfg.Trusted, pr)
	// The platform middleware gave the inbound request an id; the outbound
	// headers are a copy, but set it explicitly so the contract with
	// backends does not hang on that detail.
	if id := platform.RequestID(pr.In.Context()); id != "" {
		pr.Out.Header.Set(platform.RequestIDHeader, id)
	}
}

func modifyResponse(resp *http.Response) error {
	a := attemptFrom(resp.Request.Context())
	a.status = resp.StatusCode
	resp.Header.Set(forward.BackendHeader, a.backend.Addr)
	addVia(resp.Header, resp.ProtoMajor, resp.ProtoMinor)
	return nil
}

// errorHandler answers when no backend gave a response: 504 when the last
// was too slow, 502 for any other failure, and nothing at all when the
// client is the one who left (recorded as 499, nginx's convention).
func (h *Handler) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	a := attemptFrom(r.Context())
	addr := a.backend.Addr
	if cerr := a.body.failure(); cerr != nil {
		// The client's fault, not the backend's: say so, and close the
		// connection, whose framing may be lost in an unread body. First,
		// because a failed read from the client also cancels its context.
		var msg string
		a.status, msg = h.cfg.BodyFault(cerr)
		w.Header().Set("Connection", "close")
		http.Error(w, msg, a.status)
		return
	}
	if errors.Is(r.Context().Err(), context.Canceled) {
		a.status = 499
		platform.SetStatus(w, 499)
		h.logger.Debug("client went away", "backend", addr, "request_id", platform.RequestID(r.Context()))
		return
	}
	var full *forward.AtLimitError
	if errors.As(err, &full) {
		a.status = http.StatusServiceUnavailable
		h.metrics.ObserveLimited()
		w.Header().Set(forward.BackendHeader, addr)
		http.Error(w, forward.Full(full), a.status)
		return
	}
	a.status = forward.FailureStatus(err)
	msg := forward.Failed(a.status, addr, a.tries, err)
	h.logger.Warn("backend error", "backend", addr, "status", a.status, "tries", a.tries, "error", err.Error(),
		"request_id", platform.RequestID(r.Context()))
	w.Header().Set(forward.BackendHeader, addr)
	http.Error(w, msg, a.status)
}

// bufferPool recycles the 32 KiB buffers ReverseProxy copies bodies
// through, which it would otherwise allocate for every response.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *buffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }
