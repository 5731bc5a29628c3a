package fastpath

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/lb/internal/forward"
)

// pollInterval is how often a wait for a backend's answer looks whether
// the client is still there (a client that leaves is a 499, and its
// request stops holding a backend).
const pollInterval = 200 * time.Millisecond

var (
	errClientGone       = errors.New("client went away")
	errBodySlow   error = bodySlowError{}
	errBadBody          = &headError{400, "malformed chunked request body"}
	// errHeadRead marks a failure after some of the response head came:
	// the backend did answer, so the connection was not merely stale.
	errHeadRead = errors.New("response head cut off")
)

// bodySlowError is a request body that did not arrive within
// LB_CLIENT_BODY_TIMEOUT: a timeout, so forward.BodyFault answers 408.
type bodySlowError struct{}

func (bodySlowError) Error() string   { return "request body too slow" }
func (bodySlowError) Timeout() bool   { return true }
func (bodySlowError) Temporary() bool { return true }

// isBodyFault says whether err is the client's body failing: too large,
// too slow, or malformed.
func isBodyFault(err error) bool {
	return errors.Is(err, errBadBody) || errors.Is(err, errBodySlow) || errors.Is(err, forward.ErrBodyTooLarge)
}

// tryResult is how one try went, up to the response head.
type tryResult struct {
	bc       *backendConn // with the response head parsed into c.res; nil if none
	start    time.Time
	err      error
	bodySent bool // some of a streamed body went out (it cannot go again)
	bodyDone bool // a streamed body was read to its end
	unsent   bool // nothing reached the backend: it was full, or the dial failed
}

// try sends the request to b and reads the response head into c.res. Its
// deadline covers connecting, sending and waiting for the head, and ends
// at the request's deadline at the latest.
func (c *clientConn) try(b *balancer.Backend, deadline time.Time, body requestBody) (t tryResult) {
	s := c.s
	t.start = time.Now()
	limit, tryDeadline := s.tryLimit, t.start.Add(s.cfg.Forward.TryTimeout)
	if deadline.Before(tryDeadline) {
		limit, tryDeadline = s.requestLimit, deadline
	}
	if !b.TryAcquire(s.cfg.Forward.MaxRequestsPerBackend) {
		t.err = &forward.AtLimitError{Addr: b.Addr, Limit: s.cfg.Forward.MaxRequestsPerBackend}
		t.unsent = true
		return t
	}
	// A request that can be sent again may go once more on a new
	// connection when a reused one turns out to have been closed by the
	// backend meanwhile (net/http's transport does the same).
	replayable := !body.streamed && c.req.idempotent()
	for attempt := 0; ; attempt++ {
		bc, err := c.connTo(b, tryDeadline, attempt > 0, replayable)
		if err != nil {
			if forward.IsTimeout(err) && !time.Now().Before(tryDeadline) {
				err = limit
			}
			t.err, t.unsent = err, true
			return t
		}
		t.bc = bc
		err = c.send(bc, b, body, &t)
		if err == nil {
			err = c.awaitHead(bc, tryDeadline)
		}
		if err == nil {
			return t
		}
		t.bc = nil
		bc.conn.Close()
		var ne net.Error
		switch {
		case errors.Is(err, errClientGone), isBodyFault(err):
		case errors.As(err, &ne) && ne.Timeout():
			err = limit
		case bc.reused && replayable && attempt == 0 && !errors.Is(err, errHeadRead):
			continue // a stale keep-alive connection: again, on a new one
		}
		t.err = err
		return t
	}
}

// connTo returns a pooled connection to b, or dials one.
func (c *clientConn) connTo(b *balancer.Backend, tryDeadline time.Time, fresh, replayable bool) (*backendConn, error) {
	s := c.s
	now := time.Now()
	if !fresh {
		for {
			bc := s.backends.get(b, now)
			if bc == nil {
				break
			}
			// A request that cannot be sent twice looks first whether the
			// backend has closed this connection while it was idle.
			if !replayable && peerClosed(bc.conn) {
				bc.conn.Close()
				continue
			}
			return bc, nil
		}
	}
	d := net.Dialer{Timeout: s.cfg.ConnectTimeout, Deadline: tryDeadline, KeepAlive: 30 * time.Second}
	conn, err := d.Dial("tcp", b.Addr)
	if err != nil {
		return nil, err
	}
	bc := &backendConn{b: b, conn: conn}
	bc.rd = connReader{conn: conn, buf: make([]byte, bufSize)}
	bc.out = outBuf{conn: conn, b: make([]byte, 0, bufSize)}
	return bc, nil
}

// send writes the head, Host included, and the body: a buffered one in the
// same write, a streamed one as it comes from the client.
func (c *clientConn) send(bc *backendConn, b *balancer.Backend, body requestBody, t *tryResult) error {
	o := &bc.out
	o.b = append(o.b[:0], c.tmpl[:c.split]...)
	o.b = append(o.b, "Host: "...)
	o.b = append(o.b, b.Addr...)
	o.b = append(o.b, "\r\n"...)
	o.b = append(o.b, c.tmpl[c.split:]...)
	if !body.streamed {
		o.b = append(o.b, body.buf...)
		return o.flush()
	}
	t.bodySent = true
	clientDeadline := func() error { return c.conn.SetReadDeadline(c.bodyDeadline()) }
	var err error
	if c.req.chunked {
		err = copyChunked(o, &c.rd, false, c.s.cfg.Forward.MaxBodyBytes, clientDeadline)
	} else {
		err = copyLength(o, &c.rd, c.req.contentLength, clientDeadline)
	}
	if err == nil {
		t.bodyDone = true
		return o.flush()
	}
	var we writeError
	switch {
	case errors.As(err, &we):
		return err // the backend's side broke
	case errors.Is(err, errBadChunk):
		return errBadBody
	case errors.Is(err, forward.ErrBodyTooLarge):
		return forward.ErrBodyTooLarge
	case forward.IsTimeout(err):
		return errBodySlow
	default:
		return errClientGone // reading the client's body failed: it left
	}
}

// awaitHead reads the response head, looking every pollInterval whether
// the client is still there. 1xx answers are skipped.
func (c *clientConn) awaitHead(bc *backendConn, tryDeadline time.Time) error {
	res := &c.res
	next := time.Now().Add(pollInterval)
	bc.conn.SetReadDeadline(minTime(next, tryDeadline))
	bc.deadline = true
	for {
		if buf := bc.rd.buffered(); len(buf) > 0 {
			n, err := parseResponse(buf, res)
			if err == nil {
				if res.status >= 100 && res.status < 200 {
					if res.status == http.StatusSwitchingProtocols {
						return errors.New("101 Switching Protocols to a request that asked for no upgrade")
					}
					bc.rd.consume(n)
					continue
				}
				c.resHeadLen = n
				return nil
			}
			if err != errIncomplete {
				return fmt.Errorf("%w: %v", errHeadRead, err)
			}
		}
		err := bc.rd.fill(c.s.cfg.MaxHeaderBytes)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			now := time.Now()
			if now.Before(tryDeadline) {
				if peerClosed(c.conn) {
					return errClientGone
				}
				next = now.Add(pollInterval)
				bc.conn.SetReadDeadline(minTime(next, tryDeadline))
				continue
			}
			return err
		}
		if len(bc.rd.buffered()) > 0 {
			return fmt.Errorf("%w: %v", errHeadRead, err)
		}
		if err == io.EOF {
			return errors.New("backend closed the connection without answering")
		}
		return err
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// discard reads away a small error answer so that its connection can serve
// again; a big or unframed one is not worth it.
func (c *clientConn) discard(bc *backendConn) {
	res := &c.res
	bc.rd.consume(c.resHeadLen)
	if !res.close && !res.chunked && res.contentLength >= 0 && res.contentLength <= 4<<10 &&
		bc.rd.readAtLeast(int(res.contentLength), bufSize) == nil {
		bc.rd.consume(int(res.contentLength))
		if len(bc.rd.buffered()) == 0 {
			c.s.backends.put(bc, time.Now())
			return
		}
	}
	bc.conn.Close()
}
