// Package forward holds the forwarding rules both of the lb's HTTP engines
// obey, the net/http one (internal/proxy) and the fast path
// (internal/fastpath): how they are configured, where backends come from,
// what they count, whose X-Forwarded-* they believe, which requests they
// retry and within what budget, the limits on backends and request bodies,
// and the sentences of the answers the lb writes itself. Each engine only
// moves bytes its own way; what a client or a backend can observe is
// decided here, once.
package forward

import (
	"net/http"
	"time"

	"scalelab/services/lb/internal/balancer"
)

// BackendHeader names, on every answer, the backend that served it.
// Backends' own headers (such as X-Served-By) pass through untouched.
const BackendHeader = "X-Backend"

// ViaName is how the lb names itself in Via (RFC 9110 7.6.3 allows a
// pseudonym instead of a host name).
const ViaName = "scalelab-lb"

// Pool is where backends come from, and where the outcome of every try is
// reported (health.Tracker is one).
type Pool interface {
	// Available returns the backends to pick from; the caller must not
	// modify it.
	Available() []*balancer.Backend
	// Observe reports a try: failed means no answer, or a 5xx.
	Observe(b *balancer.Backend, failed bool)
}

// Config is how requests are retried, timed out and limited.
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

// Timeouts returns the errors of a try cut short by LB_TRY_TIMEOUT and by
// LB_REQUEST_TIMEOUT; an engine makes them once.
func (c *Config) Timeouts() (try, request *TimeoutError) {
	return &TimeoutError{"LB_TRY_TIMEOUT", c.TryTimeout}, &TimeoutError{"LB_REQUEST_TIMEOUT", c.RequestTimeout}
}

// Idempotent says whether a request may be sent twice: the methods
// RFC 9110 calls safe for a proxy to retry, or a request whose client made
// it idempotent with an Idempotency-Key. PUT and DELETE are idempotent in
// the RFC too, but the api's are not safe to replay blindly (a DELETE then
// a re-created user), so they are left to the client.
func Idempotent(method string, idempotencyKey bool) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return idempotencyKey
}

// RetryStatus says whether a backend's answer is a sign to go elsewhere:
// 502 and 503 are; a 500 or 504 is the backend's answer to this request.
func RetryStatus(status int) bool {
	return status == http.StatusBadGateway || status == http.StatusServiceUnavailable
}
