package proxy

import (
	"io"
	"net/http"
	"sync"
	"time"

	"scalelab/services/lb/internal/forward"
)

// The request body's size and time limits (forward.Config.MaxBodyBytes and
// BodyTimeout), as net/http's server lets them be enforced.

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
	err error // the client's fault: forward.ErrBodyTooLarge or a read error
}

func (c *clientBody) Read(p []byte) (int, error) {
	if c.limit > 0 && int64(len(p)) > c.limit-c.read+1 {
		// Ask for one byte more than allowed: reading it is the proof.
		p = p[:c.limit-c.read+1]
	}
	n, err := c.rc.Read(p)
	c.read += int64(n)
	if c.limit > 0 && c.read > c.limit {
		c.fail(forward.ErrBodyTooLarge)
		return 0, forward.ErrBodyTooLarge
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
		_, msg := h.cfg.BodyFault(forward.ErrBodyTooLarge)
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
