package fastpath

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"scalelab/services/lb/internal/forward"
)

// respond writes the response head and streams the body to the client,
// then returns the backend connection to the pool if it can serve again.
// It returns the time the try took, from its start to the end of the body.
func (c *clientConn) respond(bc *backendConn, start time.Time) time.Duration {
	s := c.s
	res := &c.res
	b := bc.b
	c.status = res.status
	noBody := string(c.req.method) == http.MethodHead || res.status == http.StatusNoContent ||
		res.status == http.StatusNotModified
	delimited := !noBody && !res.chunked && res.contentLength < 0 // by the backend closing
	// An HTTP/1.0 client cannot read chunks: a body without a length ends
	// by closing, to it.
	toClose := c.req.minor == 0 && !noBody && res.contentLength < 0
	if toClose {
		c.closing = true
	}
	o := &c.out
	o.b = c.responseHead(b.Addr, noBody, toClose)
	bc.rd.consume(c.resHeadLen)
	bodyFrom := o.written + int64(len(o.b))

	// The body is not bounded by the try's deadline: a long download or an
	// event stream is not a slow backend.
	clearDeadline := func() error {
		if bc.deadline {
			bc.deadline = false
			return bc.conn.SetReadDeadline(time.Time{})
		}
		return nil
	}
	var err error
	switch {
	case noBody:
	case res.chunked:
		err = copyChunked(o, &bc.rd, toClose, 0, clearDeadline)
	case res.contentLength >= 0:
		err = copyLength(o, &bc.rd, res.contentLength, clearDeadline)
	default:
		err = copyUntilEOF(o, &bc.rd, toClose, clearDeadline)
	}
	if err == nil {
		if ferr := o.flush(); ferr != nil {
			err = writeError{ferr}
		}
	}
	c.bodyBytes = max(o.written+int64(len(o.b))-bodyFrom, 0)
	elapsed := time.Since(start)
	b.Release()
	s.cfg.Metrics.ObserveDuration(b, elapsed)

	if err == nil && !delimited && !res.close && len(bc.rd.buffered()) == 0 {
		s.backends.put(bc, time.Now())
	} else {
		bc.conn.Close()
	}
	var we writeError
	switch {
	case err == nil:
	case errors.As(err, &we):
		// The client left during the answer. The status it was sent (in
		// part) stands, as it does when net/http's server loses a client.
		c.closing = true
	default:
		// The backend broke off mid-body: the client cannot be told but
		// by closing (as net/http does, aborting the handler).
		c.closing = true
		s.cfg.Logger.Warn("backend broke off a response body", "backend", b.Addr, "error", err.Error(),
			"request_id", string(c.id[:c.idLen]))
	}
	return elapsed
}

// responseHead is the client's head for the backend's response in c.res.
func (c *clientConn) responseHead(backend string, noBody, toClose bool) []byte {
	res := &c.res
	h := headWriter{b: c.out.b[:0]}
	h.statusLine(res.status, res.reason)
	h.copyFields(&res.message, dropResponseField)
	h.str(forward.BackendHeader + ": ")
	h.str(backend)
	h.str("\r\n")
	h.via(res.minor)
	h.requestID(c.id[:c.idLen])
	switch {
	case res.contentLength >= 0 && res.status != http.StatusNoContent:
		h.contentLength(res.contentLength)
	case !noBody && !toClose:
		h.str("Transfer-Encoding: chunked\r\n")
	}
	c.connection(&h)
	return h.end()
}

// connection says whether the connection stays open after this answer:
// HTTP/1.1 keeps it unless told, HTTP/1.0 closes it unless told.
func (c *clientConn) connection(h *headWriter) {
	if c.closing {
		h.str("Connection: close\r\n")
	} else if c.req.minor == 0 {
		h.str("Connection: keep-alive\r\n")
	}
}

// writePlain answers with a short text/plain body, as http.Error does.
func (c *clientConn) writePlain(status int, backend, msg string) {
	c.status = status
	h := headWriter{b: c.out.b[:0]}
	h.statusLine(status, nil)
	h.str("Content-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n")
	if backend != "" {
		h.str(forward.BackendHeader + ": " + backend + "\r\n")
	}
	if c.idLen > 0 {
		h.requestID(c.id[:c.idLen])
	}
	h.contentLength(int64(len(msg) + 1))
	if c.closing {
		h.str("Connection: close\r\n")
	}
	o := &c.out
	o.b = h.end()
	o.str(msg)
	o.str("\n")
	c.bodyBytes = int64(len(msg) + 1)
	if o.flush() != nil {
		c.closing = true
	}
}

func statusText(code int) string { return strconv.Itoa(code) + " " + http.StatusText(code) }
