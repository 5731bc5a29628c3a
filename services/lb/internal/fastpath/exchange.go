package fastpath

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"

	"scalelab/services/lb/internal/forward"
	"scalelab/services/platform"
)

// maxBufferedBody is the largest request body read whole before the first
// try: it goes to the backend in the same write as the head, and can be
// sent again on a retry. Longer bodies stream, and only a try that never
// connected can be retried.
const maxBufferedBody = 16 << 10

// setRequestID takes the client's X-Request-Id when it is sane, else makes
// a new one, by the platform's rule (1 to 128 visible ASCII bytes).
func (c *clientConn) setRequestID() {
	if id := c.req.requestID; platform.ValidRequestID(id) {
		c.idLen = copy(c.id[:], id)
		return
	}
	var raw [16]byte
	rand.Read(raw[:])
	c.idLen = hex.Encode(c.id[:], raw[:])
}

// idempotent is forward's rule for this request: may it be sent twice?
func (req *request) idempotent() bool {
	return forward.Idempotent(methodString(req.method), req.idempotencyKey)
}

// exchange forwards the request whose head was just parsed and answers the
// client: pick, the body's limits, the tries, the answer. It sets c.status
// and c.closing.
func (c *clientConn) exchange(r *http.Request) {
	s := c.s
	cfg := &s.cfg.Forward
	start := time.Now()
	req := &c.req
	avail := s.cfg.Pool.Available()
	b, first := s.picker.Pick(r, avail)
	if b == nil {
		c.rd.consume(c.headLen)
		c.closeUnread() // the body, if any, is not read
		if first != nil {
			s.cfg.Metrics.ObserveLimited()
			c.writePlain(http.StatusServiceUnavailable, "", forward.AllFull(first.Addr, cfg.MaxRequestsPerBackend))
			return
		}
		c.writePlain(http.StatusServiceUnavailable, "", forward.NoBackend)
		return
	}
	if cfg.MaxBodyBytes > 0 && req.contentLength > cfg.MaxBodyBytes {
		// Refused before a byte of it is read; the connection closes
		// rather than read the rest.
		c.rd.consume(c.headLen)
		c.closeUnread()
		status, msg := cfg.BodyFault(forward.ErrBodyTooLarge)
		c.writePlain(status, "", msg)
		return
	}
	if cfg.Budget != nil {
		cfg.Budget.Request()
	}
	c.buildHead()
	c.rd.consume(c.headLen)
	c.headLen = 0

	body, ok := c.readSmallBody()
	if !ok {
		return
	}
	var inBackend time.Duration
	defer func() {
		if body.buf != nil {
			c.rd.consume(len(body.buf))
		}
		s.cfg.Metrics.ObserveOverhead(time.Since(start) - inBackend)
	}()

	o := c.tries(r, avail, b, body, start.Add(cfg.RequestTimeout))
	inBackend = o.inBackend
	switch o.end {
	case answered:
		inBackend += c.respond(o.bc, o.start)
	case clientGone:
		c.status, c.closing = 499, true
	case bodyFailed:
		c.closeUnread()
		status, msg := cfg.BodyFault(o.err)
		c.writePlain(status, "", msg)
	case allFull:
		s.cfg.Metrics.ObserveLimited()
		c.writePlain(http.StatusServiceUnavailable, o.b.Addr, forward.Full(o.err.(*forward.AtLimitError)))
	case failed:
		s.cfg.Logger.Warn("backend error", "backend", o.b.Addr, "status", o.status, "tries", o.tries,
			"error", o.err.Error(), "request_id", string(c.id[:c.idLen]))
		c.writePlain(o.status, o.b.Addr, forward.Failed(o.status, o.b.Addr, o.tries, o.err))
	}
}

// requestBody is the client's body as the tries send it: buf, read whole
// and replayable, or streamed from the connection as each try sends it.
type requestBody struct {
	buf      []byte
	streamed bool
}

// readSmallBody reads a body of up to maxBufferedBody whole, so that it
// leaves in one write with the head and can be sent again. When the client
// fails to send it, the client is answered (408) or not (it left), and ok
// is false.
func (c *clientConn) readSmallBody() (body requestBody, ok bool) {
	s := c.s
	req := &c.req
	c.bodyStart = time.Now()
	body.streamed = req.chunked || req.contentLength > maxBufferedBody
	if body.streamed || req.contentLength <= 0 {
		return body, true
	}
	n := int(req.contentLength)
	for len(c.rd.buffered()) < n {
		c.conn.SetReadDeadline(c.bodyDeadline())
		if err := c.rd.fill(max(s.cfg.MaxHeaderBytes, maxBufferedBody)); err != nil {
			c.closeUnread()
			if forward.IsTimeout(err) {
				status, msg := s.cfg.Forward.BodyFault(errBodySlow)
				c.writePlain(status, "", msg)
				return body, false
			}
			c.status = 499
			return body, false
		}
	}
	body.buf = c.rd.buffered()[:n]
	return body, true
}

// bodyDeadline is when the client's body must be in: LB_CLIENT_BODY_TIMEOUT
// after it began, or else one idle timeout from now.
func (c *clientConn) bodyDeadline() time.Time {
	if d := c.s.cfg.Forward.BodyTimeout; d > 0 {
		return c.bodyStart.Add(d)
	}
	return time.Now().Add(c.s.cfg.IdleTimeout)
}

// buildHead writes the backend's request head, but for its Host line,
// into c.tmpl, from the fields while they are still in the read buffer.
func (c *clientConn) buildHead() {
	req := &c.req
	h := headWriter{b: c.tmpl[:0]}
	h.requestLine(req.method, req.target)
	c.split = len(h.b)
	h.copyFields(&req.message, dropRequestField)
	trusted := c.s.cfg.Forward.Trusted
	h.forwarded(req, c.peer, len(trusted) > 0 && trusted.Contains(c.peer))
	h.via(req.minor)
	h.requestID(c.id[:c.idLen])
	if req.teTrailers {
		h.str("Te: trailers\r\n")
	}
	switch {
	case req.chunked:
		h.str("Transfer-Encoding: chunked\r\n")
	case req.contentLength >= 0:
		h.contentLength(req.contentLength)
	}
	c.tmpl = h.end()
}
