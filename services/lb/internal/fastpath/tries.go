package fastpath

import (
	"errors"
	"net/http"
	"time"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/lb/internal/forward"
)

// ending is how the tries of one request ended.
type ending int

const (
	answered   ending = iota // a backend's response head is in c.res: respond with it
	clientGone               // the client left: no answer (499)
	bodyFailed               // the client's body failed: too large, too slow, malformed
	allFull                  // the last backend filled up before its try, no other could go
	failed                   // the last try got no answer: 502 or 504
)

// outcome is what the tries of one request leave for the answer.
type outcome struct {
	end       ending
	b         *balancer.Backend // of the last try
	bc        *backendConn      // answered: the connection to read the body from
	start     time.Time         // answered: when the last try began
	tries     int
	status    int // failed: 502 or 504
	err       error
	inBackend time.Duration // time in tries that are over
}

// tries sends the request to b, and, for a request that may be retried, to
// other backends after a connection failure, a timeout, or a 502 or 503,
// until one answers or the rules of forward say stop. Every try is counted
// and reported to the pool here; the answer is the caller's.
func (c *clientConn) tries(r *http.Request, avail []*balancer.Backend, b *balancer.Backend,
	body requestBody, deadline time.Time) (o outcome) {
	s := c.s
	idempotent := c.req.idempotent()
	bodyDone := !body.streamed // the client's body is all read (or buffered)
	c.tried = c.tried[:0]
	for o.tries = 1; ; o.tries++ {
		o.b = b
		t := c.try(b, deadline, body)
		bodyDone = bodyDone || t.bodyDone
		// A request that may not be sent twice may still go elsewhere when
		// it was not sent once: its dial failed (a replica starting or
		// stopping), as nginx and HAProxy retry a connection failure.
		again := s.cfg.Forward.Retries > 0 && (idempotent || t.unsent) &&
			o.tries <= s.cfg.Forward.Retries && time.Now().Before(deadline) && (!body.streamed || !t.bodySent)
		if !bodyDone && (t.bodySent || !again) {
			// What is left of the client's body is unread: the
			// connection cannot carry another request.
			c.closeUnread()
		}
		if t.err == nil {
			status := c.res.status
			s.cfg.Pool.Observe(b, status >= 500)
			s.cfg.Metrics.ObserveStatus(b, status)
			if again && forward.RetryStatus(status) {
				if next := c.retry(r, avail, b); next != nil {
					c.discard(t.bc)
					o.inBackend += c.endTry(b, t.start)
					b = next
					continue
				}
			}
			o.end, o.bc, o.start = answered, t.bc, t.start
			return o
		}
		if t.bc != nil {
			t.bc.conn.Close()
		}
		o.err = t.err
		var full *forward.AtLimitError
		switch {
		case errors.Is(t.err, errClientGone):
			s.cfg.Metrics.ObserveStatus(b, 499)
			o.inBackend += c.endTry(b, t.start)
			o.end = clientGone
			return o
		case isBodyFault(t.err):
			// The client's fault, found while its body streamed: the
			// backend's connection is closed, so it never sees a whole
			// request, and the backend is not blamed.
			status, _ := s.cfg.Forward.BodyFault(t.err)
			s.cfg.Metrics.ObserveStatus(b, status)
			o.inBackend += c.endTry(b, t.start)
			o.end = bodyFailed
			return o
		case errors.As(t.err, &full):
			// Not tried: says nothing of its health, and is not counted
			// as its retry.
			if again {
				c.tried = append(c.tried, b)
				if next := s.picker.Retry(r, avail, c.tried); next != nil {
					b = next
					continue
				}
			}
			o.end = allFull
			return o
		}
		s.cfg.Pool.Observe(b, true)
		o.status = forward.FailureStatus(t.err)
		s.cfg.Metrics.ObserveStatus(b, o.status)
		o.inBackend += c.endTry(b, t.start)
		if again {
			if next := c.retry(r, avail, b); next != nil {
				b = next
				continue
			}
			if !bodyDone {
				c.closeUnread()
			}
		}
		o.end = failed
		return o
	}
}

// retry records failed as tried and picks another backend, within the
// retry budget, counting the retry against failed.
func (c *clientConn) retry(r *http.Request, avail []*balancer.Backend, failed *balancer.Backend) *balancer.Backend {
	c.tried = append(c.tried, failed)
	next := c.s.picker.Retry(r, avail, c.tried)
	if next != nil {
		c.s.cfg.Metrics.ObserveRetry(failed)
	}
	return next
}

// endTry closes the books of a try: in-flight count, duration.
func (c *clientConn) endTry(b *balancer.Backend, start time.Time) time.Duration {
	d := time.Since(start)
	b.Release()
	c.s.cfg.Metrics.ObserveDuration(b, d)
	return d
}
