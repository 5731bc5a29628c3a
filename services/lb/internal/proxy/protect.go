package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"scalelab/services/lb/internal/balancer"
)

// This file holds the protections of item 9 that live in the handler: the
// request body's size and time limits, and the cap on requests in flight
// per backend (circuit breaking, Envoy's max_requests).

// clientBody wraps a request body from the client. It enforces
// Config.MaxBodyBytes (a chunked body declares no length, so it can only be
// counted) and clears the read deadline Config.BodyTimeout set once the
// body is read, and it remembers why reading failed, so that a client's
// fault is answered as one (413, 408) and never held against the backend.
type clientBody struct {
	rc    io.ReadCloser
	rc2   *http.ResponseController
	limit int64 // 0: none
	read  int64
	timed bool // a read deadline was set

	mu  sync.Mutex
	err error // the client's fault: errBodyTooLarge or a read error
}

// errBodyTooLarge is a body longer than LB_MAX_BODY_BYTES.
var errBodyTooLarge = errors.New("request body larger than LB_MAX_BODY_BYTES")

func (c *clientBody) Read(p []byte) (int, error) {
	if c.limit > 0 && int64(len(p)) > c.limit-c.read+1 {
		// Ask for one byte more than allowed: reading it is the proof.
		p = p[:c.limit-c.read+1]
	}
	n, err := c.rc.Read(p)
	c.read += int64(n)
	if c.limit > 0 && c.read > c.limit {
		c.fail(errBodyTooLarge)
		return 0, errBodyTooLarge
	}
	switch {
	case err == io.EOF:
		if c.timed {
			// The body is in: waiting for the answer is not the
			// client's time any more (and the server's background read,
			// which notices a client hanging up, must not time out).
			c.rc2.SetReadDeadline(time.Time{})
			c.timed = false
		}
	case err != nil:
		c.fail(err)
	}
	return n, err
}

func (c *clientBody) Close() error { return c.rc.Close() }

func (c *clientBody) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

// failure returns the client's fault, if reading its body failed.
func (c *clientBody) failure() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// clientBodyStatus is the status and sentence for a body that failed.
func (h *Handler) clientBodyStatus(err error) (int, string) {
	if errors.Is(err, errBodyTooLarge) {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf(
			"413 Content Too Large: the request body is over LB_MAX_BODY_BYTES (%d bytes)", h.cfg.MaxBodyBytes)
	}
	if isTimeout(err) {
		return http.StatusRequestTimeout, fmt.Sprintf(
			"408 Request Timeout: the request body did not arrive within LB_CLIENT_BODY_TIMEOUT (%s)", h.cfg.BodyTimeout)
	}
	return http.StatusBadRequest, fmt.Sprintf("400 Bad Request: reading the request body failed: %v", err)
}

// guardBody applies the body limits to r, or answers at once and returns
// false when the declared length is already too much.
func (h *Handler) guardBody(w http.ResponseWriter, r *http.Request) (*clientBody, bool) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, true
	}
	if h.cfg.MaxBodyBytes > 0 && r.ContentLength > h.cfg.MaxBodyBytes {
		// Refused before a byte of it is read; the connection closes
		// rather than read the rest.
		w.Header().Set("Connection", "close")
		_, msg := h.clientBodyStatus(errBodyTooLarge)
		http.Error(w, msg, http.StatusRequestEntityTooLarge)
		return nil, false
	}
	c := &clientBody{rc: r.Body, limit: h.cfg.MaxBodyBytes}
	if h.cfg.BodyTimeout > 0 {
		c.rc2 = http.NewResponseController(w)
		// A recorder in a test, say, cannot: the limit then just does
		// not apply.
		c.timed = c.rc2.SetReadDeadline(time.Now().Add(h.cfg.BodyTimeout)) == nil
	}
	r.Body = c
	return c, true
}

// atLimitError is a try not made because its backend already had
// LB_MAX_REQUESTS_PER_BACKEND requests in flight.
type atLimitError struct {
	addr  string
	limit int
}

func (e *atLimitError) Error() string {
	return fmt.Sprintf("backend %s at its concurrency limit (LB_MAX_REQUESTS_PER_BACKEND=%d)", e.addr, e.limit)
}

// pick chooses among backends, avoiding those at the concurrency limit: the
// policy's choice when it has room, else the policy's choice among those
// that do (so a full backend sheds load to its peers before anything is
// refused). It returns the policy's first choice as well, to name it when
// every backend is full (b nil, first not nil).
func (h *Handler) pick(r *http.Request, backends []*balancer.Backend) (b, first *balancer.Backend) {
	b = h.policy.Pick(r, backends)
	limit := h.cfg.MaxRequestsPerBackend
	if b == nil || limit <= 0 || b.InFlight() < int64(limit) {
		return b, b
	}
	return h.policy.Pick(r, balancer.WithRoom(backends, limit)), b
}
