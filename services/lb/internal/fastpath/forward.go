package fastpath

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/platform"
)

// maxBufferedBody is the largest request body read whole before the first
// try: it goes to the backend in the same write as the head, and can be
// sent again on a retry. Longer bodies stream, and only a try that never
// connected can be retried.
const maxBufferedBody = 16 << 10

// pollInterval is how often a wait for a backend's answer looks whether
// the client is still there (a client that leaves is a 499, and its
// request stops holding a backend).
const pollInterval = 200 * time.Millisecond

// viaName is how the lb names itself in Via, as the std engine does.
const viaName = "scalelab-lb"

var (
	errClientGone = errors.New("client went away")
	errBodySlow   = errors.New("request body too slow")
	errBadBody    = &headError{400, "malformed chunked request body"}
)

// setRequestID takes the client's X-Request-Id when it is sane (or the one
// WithRequestID settled on, when the access log is on), else a new one.
func (c *clientConn) setRequestID(r *http.Request) {
	id := c.req.requestID
	if c.s.logRequests {
		if v := r.Header[platform.RequestIDHeader]; len(v) > 0 {
			c.idLen = copy(c.id[:], v[0])
			return
		}
	}
	if validRequestID(id) {
		c.idLen = copy(c.id[:], id)
		return
	}
	var raw [16]byte
	rand.Read(raw[:])
	c.idLen = hex.Encode(c.id[:], raw[:])
}

// validRequestID is the platform's rule: 1 to 128 visible ASCII bytes.
func validRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// idempotent is the std engine's rule: GET, HEAD, OPTIONS, or a request
// the client made idempotent with an Idempotency-Key.
func (req *request) idempotent() bool {
	switch string(req.method) {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return req.idempotencyKey
}

// exchange forwards the request whose head was just parsed and answers the
// client: pick, tries, response. It sets c.status and c.closing.
func (c *clientConn) exchange(r *http.Request) {
	s := c.s
	start := time.Now()
	req := &c.req
	avail := s.cfg.Pool.Available()
	b, first := c.pick(r, avail)
	if b == nil {
		c.rd.consume(c.headLen)
		c.closing = true // the body, if any, is not read
		if first != nil {
			s.cfg.Metrics.ObserveLimited()
			c.writePlain(http.StatusServiceUnavailable, "", "503 Service Unavailable: "+
				(&atLimitError{first.Addr, s.cfg.Proxy.MaxRequestsPerBackend}).Error()+", and so is every other backend")
			return
		}
		c.writePlain(http.StatusServiceUnavailable, "",
			"503 Service Unavailable: no backend available; none has resolved to an address yet, or every one is drained")
		return
	}
	if limit := s.cfg.Proxy.MaxBodyBytes; limit > 0 && req.contentLength > limit {
		// Refused before a byte of it is read; the connection closes
		// rather than read the rest.
		c.rd.consume(c.headLen)
		c.closing = true
		_, msg := c.bodyFault(errBodyTooLarge)
		c.writePlain(http.StatusRequestEntityTooLarge, "", msg)
		return
	}
	if s.cfg.Proxy.Budget != nil {
		s.cfg.Proxy.Budget.Request()
	}
	c.buildHead()
	c.rd.consume(c.headLen)
	c.headLen = 0

	// A small body is read whole now: one write with the head, and
	// replayable.
	var body []byte
	c.bodyStart = time.Now()
	streamed := req.chunked || req.contentLength > maxBufferedBody
	if !streamed && req.contentLength > 0 {
		n := int(req.contentLength)
		for len(c.rd.buffered()) < n {
			c.conn.SetReadDeadline(c.bodyDeadline())
			if err := c.rd.fill(max(s.cfg.MaxHeaderBytes, maxBufferedBody)); err != nil {
				c.closing = true
				if isTimeout(err) {
					status, msg := c.bodyFault(errBodySlow)
					c.writePlain(status, "", msg)
					return
				}
				c.status = 499
				return
			}
		}
		body = c.rd.buffered()[:n]
	}
	bodyDone := !streamed // the client's body is all read (or buffered)

	retry := s.cfg.Proxy.Retries > 0 && req.idempotent()
	deadline := start.Add(s.cfg.Proxy.RequestTimeout)
	c.tried = c.tried[:0]
	var inBackend time.Duration
	defer func() {
		if body != nil {
			c.rd.consume(len(body))
		}
		s.cfg.Metrics.ObserveOverhead(time.Since(start) - inBackend)
	}()

	for tries := 1; ; tries++ {
		t := c.try(b, deadline, body, streamed)
		bodyDone = bodyDone || t.bodyDone
		if !bodyDone && (t.bodySent || !c.mayRetry(retry, tries, deadline, streamed, t)) {
			// What is left of the client's body is unread: the
			// connection cannot carry another request.
			c.closing = true
		}
		if t.err == nil {
			status := c.res.status
			failed := status >= 500
			s.cfg.Pool.Observe(b, failed)
			s.cfg.Metrics.ObserveStatus(b, status)
			if failed && (status == http.StatusBadGateway || status == http.StatusServiceUnavailable) &&
				c.mayRetry(retry, tries, deadline, streamed, t) {
				if next := c.next(r, avail, b); next != nil {
					c.discard(t.bc)
					inBackend += c.endTry(b, t.start)
					b = next
					continue
				}
			}
			inBackend += c.respond(t.bc, t.start)
			return
		}
		if t.bc != nil {
			t.bc.conn.Close()
		}
		switch {
		case errors.Is(t.err, errClientGone):
			s.cfg.Metrics.ObserveStatus(b, 499)
			inBackend += c.endTry(b, t.start)
			c.status, c.closing = 499, true
			return
		case errors.Is(t.err, errBadBody), errors.Is(t.err, errBodySlow), errors.Is(t.err, errBodyTooLarge):
			// The client's fault, found while its body streamed: the
			// backend's connection is closed, so it never sees a whole
			// request, and the backend is not blamed.
			status, msg := c.bodyFault(t.err)
			s.cfg.Metrics.ObserveStatus(b, status)
			inBackend += c.endTry(b, t.start)
			c.closing = true
			c.writePlain(status, "", msg)
			return
		case t.atLimit:
			// Full since it was picked: not tried, says nothing of its health.
			if next := c.nextWithRoom(r, avail, b, retry, tries, deadline, streamed, t); next != nil {
				b = next
				continue
			}
			s.cfg.Metrics.ObserveLimited()
			c.writePlain(http.StatusServiceUnavailable, b.Addr, "503 Service Unavailable: "+t.err.Error())
			return
		}
		s.cfg.Pool.Observe(b, true)
		status := http.StatusBadGateway
		if t.timedOut || isTimeout(t.err) {
			status = http.StatusGatewayTimeout
		}
		s.cfg.Metrics.ObserveStatus(b, status)
		inBackend += c.endTry(b, t.start)
		if c.mayRetry(retry, tries, deadline, streamed, t) {
			if next := c.next(r, avail, b); next != nil {
				b = next
				continue
			}
			if !bodyDone {
				c.closing = true
			}
		}
		c.fail(status, b, tries, t.err)
		return
	}
}

// mayRetry says whether a failed try may be followed by another: the
// request is idempotent, tries are left, and so is time, and the body
// can be sent again (buffered, or a streamed one of which nothing left).
func (c *clientConn) mayRetry(retry bool, tries int, deadline time.Time, streamed bool, t tryResult) bool {
	return retry && tries <= c.s.cfg.Proxy.Retries && time.Now().Before(deadline) && (!streamed || !t.bodySent)
}

// next picks another backend, not tried yet, within the retry budget.
func (c *clientConn) next(r *http.Request, avail []*balancer.Backend, failed *balancer.Backend) *balancer.Backend {
	next := c.untried(r, avail, failed)
	if next != nil {
		c.s.cfg.Metrics.ObserveRetry(failed)
	}
	return next
}

// untried records failed as tried and picks one of the others, within the
// retry budget; nil when there is none or the budget is spent.
func (c *clientConn) untried(r *http.Request, avail []*balancer.Backend, failed *balancer.Backend) *balancer.Backend {
	s := c.s
	c.tried = append(c.tried, failed)
	next, _ := c.pick(r, balancer.Without(avail, c.tried))
	if next == nil {
		return nil
	}
	if s.cfg.Proxy.Budget != nil && !s.cfg.Proxy.Budget.Retry() {
		s.cfg.Metrics.ObserveBudgetExhausted()
		return nil
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

// fail answers 502 or 504 after the last try, saying why.
func (c *clientConn) fail(status int, b *balancer.Backend, tries int, err error) {
	tried := ""
	if tries > 1 {
		tried = fmt.Sprintf(" (the last of %d tries on different backends)", tries)
	}
	var msg string
	if status == http.StatusGatewayTimeout {
		msg = fmt.Sprintf("504 Gateway Timeout: backend %s too slow%s: %v", b.Addr, tried, err)
	} else {
		msg = fmt.Sprintf("502 Bad Gateway: backend %s failed%s: %v", b.Addr, tried, err)
	}
	c.s.cfg.Logger.Warn("backend error", "backend", b.Addr, "status", status, "tries", tries, "error", err.Error(),
		"request_id", string(c.id[:c.idLen]))
	c.writePlain(status, b.Addr, msg)
}

// isTimeout: the lb's own try and request timeouts, and a dial that timed out.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// tryResult is how one try went, up to the response head.
type tryResult struct {
	bc       *backendConn // with the response head parsed into c.res; nil if none
	start    time.Time
	err      error
	timedOut bool
	bodySent bool // some of a streamed body went out (it cannot go again)
	bodyDone bool // a streamed body was read to its end
	atLimit  bool // not tried: b had LB_MAX_REQUESTS_PER_BACKEND in flight
}

// buildHead writes the backend's request head, but for its Host line,
// into c.tmpl, from the fields while they are still in the read buffer.
func (c *clientConn) buildHead() {
	req := &c.req
	s := c.s
	h := c.tmpl[:0]
	h = append(h, req.method...)
	h = append(h, ' ')
	h = append(h, originForm(req.target)...)
	h = append(h, " HTTP/1.1\r\n"...)
	c.split = len(h)

	for _, f := range req.fields {
		if dropRequestField(f.name, req.connNamed) {
			continue
		}
		h = append(h, f.name...)
		h = append(h, ": "...)
		h = append(h, f.value...)
		h = append(h, "\r\n"...)
	}
	// X-Forwarded-*: from anyone but a trusted proxy, what the client
	// wrote is replaced; a trusted proxy's chain is extended with the peer,
	// and what it says of the original Host and scheme is kept.
	var xfHost, xfProto []byte
	h = append(h, "X-Forwarded-For: "...)
	if len(s.cfg.Proxy.Trusted) > 0 && s.cfg.Proxy.Trusted.Contains(c.peer) {
		for _, f := range req.fields {
			switch {
			case equalFold(f.name, "x-forwarded-for"):
				h = append(h, f.value...)
				h = append(h, ", "...)
			case equalFold(f.name, "x-forwarded-host"):
				xfHost = f.value
			case equalFold(f.name, "x-forwarded-proto"):
				xfProto = f.value
			}
		}
	}
	h = append(h, c.peer...)
	h = append(h, "\r\nX-Forwarded-Host: "...)
	if len(xfHost) > 0 {
		h = append(h, xfHost...)
	} else {
		h = append(h, req.host...)
	}
	h = append(h, "\r\nX-Forwarded-Proto: "...)
	if len(xfProto) > 0 {
		h = append(h, xfProto...)
	} else {
		h = append(h, "http"...)
	}
	h = append(h, "\r\nVia: 1."...)
	h = append(h, byte('0'+req.minor))
	h = append(h, " "+viaName+"\r\n"+platform.RequestIDHeader+": "...)
	h = append(h, c.id[:c.idLen]...)
	h = append(h, "\r\n"...)
	if req.teTrailers {
		h = append(h, "Te: trailers\r\n"...)
	}
	switch {
	case req.chunked:
		h = append(h, "Transfer-Encoding: chunked\r\n"...)
	case req.contentLength >= 0:
		h = append(h, "Content-Length: "...)
		h = strconv.AppendInt(h, req.contentLength, 10)
		h = append(h, "\r\n"...)
	}
	h = append(h, "\r\n"...)
	c.tmpl = h
}

// originForm turns an absolute-form target (a client that thinks it talks
// to a forward proxy) into the path and query a backend expects.
func originForm(target []byte) []byte {
	for _, scheme := range [...]string{"http://", "https://"} {
		if len(target) > len(scheme) && equalFold(target[:len(scheme)], scheme) {
			rest := target[len(scheme):]
			for i, ch := range rest {
				if ch == '/' || ch == '?' {
					if ch == '?' {
						return append([]byte("/"), rest[i:]...)
					}
					return rest[i:]
				}
			}
			return []byte("/")
		}
	}
	return target
}

// dropRequestField says whether a client's field stays out of the
// backend's head: hop-by-hop fields (RFC 9110 7.6.1, and those Connection
// names), the framing the lb writes itself, and what it sets anew (Host,
// X-Forwarded-*, Forwarded, X-Request-Id).
func dropRequestField(name []byte, connNamed [][]byte) bool {
	if isHopByHop(name) {
		return true
	}
	switch len(name) {
	case 4:
		if equalFold(name, "host") {
			return true
		}
	case 9:
		if equalFold(name, "forwarded") {
			return true
		}
	case 12:
		if equalFold(name, "x-request-id") {
			return true
		}
	case 14:
		if equalFold(name, "content-length") {
			return true
		}
	case 15:
		if equalFold(name, "x-forwarded-for") {
			return true
		}
	case 16:
		if equalFold(name, "x-forwarded-host") {
			return true
		}
	case 17:
		if equalFold(name, "x-forwarded-proto") {
			return true
		}
	}
	return namedIn(name, connNamed)
}

// isHopByHop: the fixed hop-by-hop set net/http/httputil removes.
func isHopByHop(name []byte) bool {
	switch len(name) {
	case 2:
		return equalFold(name, "te")
	case 7:
		return equalFold(name, "upgrade") || equalFold(name, "trailer")
	case 10:
		return equalFold(name, "connection") || equalFold(name, "keep-alive")
	case 16:
		return equalFold(name, "proxy-connection")
	case 17:
		return equalFold(name, "transfer-encoding")
	case 18:
		return equalFold(name, "proxy-authenticate")
	case 19:
		return equalFold(name, "proxy-authorization")
	}
	return false
}

func namedIn(name []byte, named [][]byte) bool {
	for _, n := range named {
		if bytes.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// try sends the request to b and reads the response head into c.res. Its
// deadline covers connecting, sending and waiting for the head, and ends
// at the request's deadline at the latest.
func (c *clientConn) try(b *balancer.Backend, deadline time.Time, body []byte, streamed bool) (t tryResult) {
	s := c.s
	t.start = time.Now()
	limit, tryDeadline := s.tryLimit, t.start.Add(s.cfg.Proxy.TryTimeout)
	if deadline.Before(tryDeadline) {
		limit, tryDeadline = s.requestLimit, deadline
	}
	if !b.TryAcquire(s.cfg.Proxy.MaxRequestsPerBackend) {
		t.atLimit = true
		t.err = &atLimitError{b.Addr, s.cfg.Proxy.MaxRequestsPerBackend}
		return t
	}
	// A request that can be sent again may go once more on a new
	// connection when a reused one turns out to have been closed by the
	// backend meanwhile (net/http's transport does the same).
	replayable := !streamed && c.req.idempotent()
	for attempt := 0; ; attempt++ {
		bc, err := c.connTo(b, tryDeadline, attempt > 0, replayable)
		if err != nil {
			if isTimeout(err) && !time.Now().Before(tryDeadline) {
				t.timedOut, err = true, limit
			}
			t.err = err
			return t
		}
		t.bc = bc
		err = c.send(bc, b, body, streamed, &t)
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
		case errors.Is(err, errClientGone), errors.Is(err, errBadBody), errors.Is(err, errBodySlow), errors.Is(err, errBodyTooLarge):
		case errors.As(err, &ne) && ne.Timeout():
			t.timedOut, err = true, limit
		case bc.reused && replayable && attempt == 0 && !errors.Is(err, errHeadRead):
			continue // a stale keep-alive connection: again, on a new one
		}
		t.err = err
		return t
	}
}

// errHeadRead marks a failure after some of the response head came: the
// backend did answer, so the connection was not merely stale.
var errHeadRead = errors.New("response head cut off")

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
func (c *clientConn) send(bc *backendConn, b *balancer.Backend, body []byte, streamed bool, t *tryResult) error {
	o := &bc.out
	o.b = append(o.b[:0], c.tmpl[:c.split]...)
	o.b = append(o.b, "Host: "...)
	o.b = append(o.b, b.Addr...)
	o.b = append(o.b, "\r\n"...)
	o.b = append(o.b, c.tmpl[c.split:]...)
	if !streamed {
		o.b = append(o.b, body...)
		return o.flush()
	}
	t.bodySent = true
	clientDeadline := func() error { return c.conn.SetReadDeadline(c.bodyDeadline()) }
	var err error
	if c.req.chunked {
		err = copyChunked(o, &c.rd, false, c.s.cfg.Proxy.MaxBodyBytes, clientDeadline)
	} else {
		err = copyLength(o, &c.rd, c.req.contentLength, clientDeadline)
	}
	if err == nil {
		t.bodyDone = true
		err = o.flush()
		return err
	}
	var we writeError
	switch {
	case errors.As(err, &we):
		return err // the backend's side broke
	case errors.Is(err, errBadChunk):
		return errBadBody
	case errors.Is(err, errBodyTooLarge):
		return errBodyTooLarge
	case isTimeout(err):
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

// respond writes the response head and streams the body to the client,
// then returns the backend connection to the pool if it can serve again.
// It returns the time the try took, from its start to the end of the body.
func (c *clientConn) respond(bc *backendConn, start time.Time) time.Duration {
	s := c.s
	res := &c.res
	req := &c.req
	b := bc.b
	c.status = res.status

	noBody := string(req.method) == http.MethodHead || res.status == http.StatusNoContent ||
		res.status == http.StatusNotModified
	delimited := !noBody && !res.chunked && res.contentLength < 0 // by the backend closing
	// An HTTP/1.0 client cannot read chunks: a body without a length ends
	// by closing, to it.
	toClose := req.minor == 0 && !noBody && res.contentLength < 0
	if toClose {
		c.closing = true
	}

	o := &c.out
	o.b = o.b[:0]
	o.str("HTTP/1.1 ")
	o.b = strconv.AppendInt(o.b, int64(res.status), 10)
	o.b = append(o.b, ' ')
	if len(res.reason) > 0 {
		o.b = append(o.b, res.reason...)
	} else {
		o.str(http.StatusText(res.status))
	}
	o.str("\r\n")
	for _, f := range res.fields {
		if dropResponseField(f.name, res.connNamed) {
			continue
		}
		o.b = append(o.b, f.name...)
		o.str(": ")
		o.b = append(o.b, f.value...)
		o.str("\r\n")
	}
	o.str("X-Backend: ")
	o.str(b.Addr)
	o.str("\r\nVia: 1.")
	o.b = append(o.b, byte('0'+res.minor))
	o.str(" " + viaName + "\r\n" + platform.RequestIDHeader + ": ")
	o.b = append(o.b, c.id[:c.idLen]...)
	o.str("\r\n")
	switch {
	case res.contentLength >= 0 && res.status != http.StatusNoContent:
		o.str("Content-Length: ")
		o.b = strconv.AppendInt(o.b, res.contentLength, 10)
		o.str("\r\n")
	case !noBody && !toClose:
		o.str("Transfer-Encoding: chunked\r\n")
	}
	if c.closing {
		o.str("Connection: close\r\n")
	} else if req.minor == 0 {
		o.str("Connection: keep-alive\r\n")
	}
	o.str("\r\n")
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

	var we writeError
	switch {
	case err == nil && !delimited && !res.close && len(bc.rd.buffered()) == 0:
		s.backends.put(bc, time.Now())
	default:
		bc.conn.Close()
	}
	switch {
	case err == nil:
	case errors.As(err, &we):
		// The client left during the answer. The status it was sent (in
		// part) stands, as with the std engine.
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

// dropResponseField: hop-by-hop fields, the framing the lb writes itself,
// and the headers it sets.
func dropResponseField(name []byte, connNamed [][]byte) bool {
	if isHopByHop(name) {
		return true
	}
	switch len(name) {
	case 9:
		if equalFold(name, "x-backend") {
			return true
		}
	case 12:
		if equalFold(name, "x-request-id") {
			return true
		}
	case 14:
		if equalFold(name, "content-length") {
			return true
		}
	}
	return namedIn(name, connNamed)
}

// writePlain answers with a short text/plain body, as http.Error does.
func (c *clientConn) writePlain(status int, backend, msg string) {
	c.status = status
	o := &c.out
	o.b = o.b[:0]
	o.str("HTTP/1.1 ")
	o.b = strconv.AppendInt(o.b, int64(status), 10)
	o.str(" " + http.StatusText(status) + "\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n")
	if backend != "" {
		o.str("X-Backend: " + backend + "\r\n")
	}
	if c.idLen > 0 {
		o.str(platform.RequestIDHeader + ": ")
		o.b = append(o.b, c.id[:c.idLen]...)
		o.str("\r\n")
	}
	o.str("Content-Length: ")
	o.b = strconv.AppendInt(o.b, int64(len(msg)+1), 10)
	o.str("\r\n")
	if c.closing {
		o.str("Connection: close\r\n")
	}
	o.str("\r\n")
	o.str(msg)
	o.str("\n")
	c.bodyBytes = int64(len(msg) + 1)
	if o.flush() != nil {
		c.closing = true
	}
}

func statusText(code int) string { return strconv.Itoa(code) + " " + http.StatusText(code) }

// The protections the std engine has in proxy/protect.go, the same here:
// LB_MAX_BODY_BYTES (413), LB_CLIENT_BODY_TIMEOUT (408) and
// LB_MAX_REQUESTS_PER_BACKEND (shed to a backend with room, else 503).

// bodyDeadline is when the client's body must be in: LB_CLIENT_BODY_TIMEOUT
// after it began, or else one idle timeout from now.
func (c *clientConn) bodyDeadline() time.Time {
	if d := c.s.cfg.Proxy.BodyTimeout; d > 0 {
		return c.bodyStart.Add(d)
	}
	return time.Now().Add(c.s.cfg.IdleTimeout)
}

// bodyFault is the status and sentence for a client's body that failed,
// worded as the std engine words them.
func (c *clientConn) bodyFault(err error) (int, string) {
	cfg := c.s.cfg.Proxy
	switch {
	case errors.Is(err, errBodyTooLarge):
		return http.StatusRequestEntityTooLarge, fmt.Sprintf(
			"413 Content Too Large: the request body is over LB_MAX_BODY_BYTES (%d bytes)", cfg.MaxBodyBytes)
	case errors.Is(err, errBodySlow):
		return http.StatusRequestTimeout, fmt.Sprintf(
			"408 Request Timeout: the request body did not arrive within LB_CLIENT_BODY_TIMEOUT (%s)", cfg.BodyTimeout)
	}
	return http.StatusBadRequest, "400 Bad Request: " + errBadBody.msg
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

// pick is the policy's choice when it has room, else the policy's choice
// among the backends that have; first is the policy's first choice, to
// name when every backend is full (b nil).
func (c *clientConn) pick(r *http.Request, avail []*balancer.Backend) (b, first *balancer.Backend) {
	s := c.s
	b = s.cfg.Policy.Pick(r, avail)
	limit := s.cfg.Proxy.MaxRequestsPerBackend
	if b == nil || limit <= 0 || b.InFlight() < int64(limit) {
		return b, b
	}
	return s.cfg.Policy.Pick(r, balancer.WithRoom(avail, limit)), b
}

// nextWithRoom is another backend for a request whose backend filled up
// since it was picked: as the std engine, only for a request that may be
// retried, within the budget, and not counted as the full one's retry.
func (c *clientConn) nextWithRoom(r *http.Request, avail []*balancer.Backend, full *balancer.Backend,
	retry bool, tries int, deadline time.Time, streamed bool, t tryResult) *balancer.Backend {
	if !c.mayRetry(retry, tries, deadline, streamed, t) {
		return nil
	}
	return c.untried(r, avail, full)
}
