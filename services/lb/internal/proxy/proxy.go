// Package proxy is the load balancer's request path: pick a backend with a
// balancer.Policy, forward with one httputil.ReverseProxy, and explain
// failures with the right status (502 failed, 503 none, 504 too slow).
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/platform"
)

// BackendHeader names, on every answer, the backend that served it.
// Backends' own headers (such as X-Served-By) pass through untouched.
const BackendHeader = "X-Backend"

// Handler forwards each request to one backend.
type Handler struct {
	backends func() []*balancer.Backend
	policy   balancer.Policy
	metrics  *Metrics
	logger   *slog.Logger
	rp       *httputil.ReverseProxy
}

// New builds the handler. backends returns the current backends (it is
// called on every request, so it must be cheap); transport is shared by
// all of them.
func New(backends func() []*balancer.Backend, policy balancer.Policy, transport http.RoundTripper, metrics *Metrics, logger *slog.Logger) *Handler {
	h := &Handler{backends: backends, policy: policy, metrics: metrics, logger: logger}
	// One ReverseProxy for every request and backend: it is safe for
	// concurrent use, and the per-request target travels in the context.
	h.rp = &httputil.ReverseProxy{
		Rewrite:        rewrite,
		Transport:      transport,
		ModifyResponse: modifyResponse,
		ErrorHandler:   h.errorHandler,
		BufferPool:     bufferPool{},
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	return h
}

// attempt carries the chosen backend from ServeHTTP to Rewrite, and the
// outcome back from ModifyResponse or ErrorHandler, through the request
// context (ReverseProxy gives those hooks nothing else in common).
type attempt struct {
	backend *balancer.Backend
	status  int
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
	b := h.policy.Pick(r, h.backends())
	if b == nil {
		http.Error(w, "503 Service Unavailable: no backend available; none of LB_BACKENDS has resolved to an address yet", http.StatusServiceUnavailable)
		return
	}
	a := &attempt{backend: b}
	inFlight := h.metrics.inFlight.WithLabelValues(b.Addr)
	inFlight.Inc()
	start := time.Now()
	// Deferred, because ReverseProxy panics with http.ErrAbortHandler when
	// the backend dies in the middle of a body; the books must still balance.
	defer func() {
		inFlight.Dec()
		h.metrics.requests.WithLabelValues(b.Addr, platform.StatusClass(a.status)).Inc()
		h.metrics.duration.WithLabelValues(b.Addr).Observe(time.Since(start).Seconds())
	}()
	h.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), attemptKey{}, a)))
}

// rewrite builds the outbound request. Before it runs, ReverseProxy has
// already removed hop-by-hop headers and any X-Forwarded-* the client sent,
// so a client cannot forge the address the backend sees.
func rewrite(pr *httputil.ProxyRequest) {
	a := attemptFrom(pr.In.Context())
	// SetURL also sets the outbound Host header to the backend's host:port,
	// which is what a backend behind a plain address expects; the client's
	// Host is still available to it as X-Forwarded-Host.
	pr.SetURL(a.backend.URL)
	pr.SetXForwarded()
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
	resp.Header.Set(BackendHeader, a.backend.Addr)
	return nil
}

// errorHandler answers when the backend gave no response: 504 when it was
// too slow, 502 for any other failure, and nothing at all when the client
// is the one who left (recorded as 499, nginx's convention).
func (h *Handler) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	a := attemptFrom(r.Context())
	addr := a.backend.Addr
	if errors.Is(r.Context().Err(), context.Canceled) {
		a.status = 499
		platform.SetStatus(w, 499)
		h.logger.Debug("client went away", "backend", addr, "request_id", platform.RequestID(r.Context()))
		return
	}
	var msg string
	if isTimeout(err) {
		a.status = http.StatusGatewayTimeout
		msg = fmt.Sprintf("504 Gateway Timeout: backend %s too slow: %v", addr, err)
	} else {
		a.status = http.StatusBadGateway
		msg = fmt.Sprintf("502 Bad Gateway: backend %s failed: %v", addr, err)
	}
	h.logger.Warn("backend error", "backend", addr, "status", a.status, "error", err.Error(),
		"request_id", platform.RequestID(r.Context()))
	w.Header().Set(BackendHeader, addr)
	http.Error(w, msg, a.status)
}

// isTimeout covers the transport's response-header timeout and a dial that
// timed out; both mean the backend did not answer in time.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// bufferPool recycles the 32 KiB buffers ReverseProxy copies bodies
// through, which it would otherwise allocate for every response.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *buffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }
