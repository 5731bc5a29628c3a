// Package proxy is the load balancer's request path: pick a backend with a
// balancer.Policy among those health allows, forward with one
// httputil.ReverseProxy, retry idempotent requests on another backend, and
// explain failures with the right status (502 failed, 503 none, 504 too
// slow).
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
	"sync/atomic"
	"time"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/platform"
)

// BackendHeader names, on every answer, the backend that served it.
// Backends' own headers (such as X-Served-By) pass through untouched.
const BackendHeader = "X-Backend"

// Pool is where backends come from, and where the outcome of every try is
// reported (health.Tracker is one).
type Pool interface {
	// Available returns the backends to pick from; the caller must not
	// modify it.
	Available() []*balancer.Backend
	// Observe reports a try: failed means no answer, or a 5xx.
	Observe(b *balancer.Backend, failed bool)
}

// Config is how the proxy retries and times out.
type Config struct {
	// Retries is how many times an idempotent request may be tried again,
	// each time on a backend it has not tried yet (LB_RETRIES).
	Retries int
	// TryTimeout bounds the wait for one backend's response headers,
	// connecting included (LB_TRY_TIMEOUT). The body is not bounded: a
	// long download or an event stream is not a slow backend.
	TryTimeout time.Duration
	// RequestTimeout bounds the wait for response headers over all tries
	// (LB_REQUEST_TIMEOUT).
	RequestTimeout time.Duration
	// Budget caps retries; nil means no cap.
	Budget *Budget
	// Trusted lists the proxies whose X-Forwarded-* headers are believed.
	Trusted Trusted
	// MaxBodyBytes bounds a request body (LB_MAX_BODY_BYTES): a declared
	// length beyond it is refused at once with 413, a chunked body when it
	// gets there; 0: no bound.
	MaxBodyBytes int64
	// BodyTimeout bounds the time the client takes to send the whole
	// request body (LB_CLIENT_BODY_TIMEOUT): beyond it, 408; 0: no bound.
	BodyTimeout time.Duration
	// MaxRequestsPerBackend caps requests in flight per backend
	// (LB_MAX_REQUESTS_PER_BACKEND): a request goes to another backend
	// with room, or, with none, gets a fast 503; 0: no cap.
	MaxRequestsPerBackend int
}

// Handler forwards each request to a backend.
type Handler struct {
	pool      Pool
	policy    balancer.Policy
	transport http.RoundTripper
	metrics   *Metrics
	logger    *slog.Logger
	cfg       Config
	rp        *httputil.ReverseProxy
	// The errors of a try cut short by either timeout, made once.
	tryLimit, requestLimit *timeoutError
}

// New builds the handler; transport is shared by every backend.
func New(pool Pool, policy balancer.Policy, transport http.RoundTripper, metrics *Metrics, logger *slog.Logger, cfg Config) *Handler {
	h := &Handler{pool: pool, policy: policy, transport: transport, metrics: metrics, logger: logger, cfg: cfg,
		tryLimit:     &timeoutError{"LB_TRY_TIMEOUT", cfg.TryTimeout},
		requestLimit: &timeoutError{"LB_REQUEST_TIMEOUT", cfg.RequestTimeout},
	}
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
		client := h.cfg.Trusted.clientAddr(peerIP(r.RemoteAddr), r.Header.Values("X-Forwarded-For"))
		r = r.WithContext(balancer.WithClientAddr(r.Context(), client))
	}
	b, first := h.pick(r, h.pool.Available())
	if b == nil {
		if first != nil {
			h.metrics.limited.Inc()
			http.Error(w, "503 Service Unavailable: "+(&atLimitError{first.Addr, h.cfg.MaxRequestsPerBackend}).Error()+
				", and so is every other backend", http.StatusServiceUnavailable)
			return
		}
		http.Error(w, "503 Service Unavailable: no backend available; none has resolved to an address yet, or every one is drained", http.StatusServiceUnavailable)
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
		h.metrics.overhead.Observe((time.Since(start) - time.Duration(a.inBackend.Load())).Seconds())
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
	h.cfg.Trusted.setForwarded(pr)
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
		a.status, msg = h.clientBodyStatus(cerr)
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
	var full *atLimitError
	if errors.As(err, &full) {
		a.status = http.StatusServiceUnavailable
		h.metrics.limited.Inc()
		w.Header().Set(BackendHeader, addr)
		http.Error(w, "503 Service Unavailable: "+full.Error(), a.status)
		return
	}
	tries := ""
	if a.tries > 1 {
		tries = fmt.Sprintf(" (the last of %d tries on different backends)", a.tries)
	}
	var msg string
	if isTimeout(err) {
		a.status = http.StatusGatewayTimeout
		msg = fmt.Sprintf("504 Gateway Timeout: backend %s too slow%s: %v", addr, tries, err)
	} else {
		a.status = http.StatusBadGateway
		msg = fmt.Sprintf("502 Bad Gateway: backend %s failed%s: %v", addr, tries, err)
	}
	h.logger.Warn("backend error", "backend", addr, "status", a.status, "tries", a.tries, "error", err.Error(),
		"request_id", platform.RequestID(r.Context()))
	w.Header().Set(BackendHeader, addr)
	http.Error(w, msg, a.status)
}

// isTimeout covers the lb's own try and request timeouts, and a dial that
// timed out; all mean the backend did not answer in time.
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
