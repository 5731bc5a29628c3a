package fastpath

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/platform"
)

// clientConn is one client connection and the state of its request.
type clientConn struct {
	s       *Server
	conn    net.Conn
	handoff *platform.HandoffListener
	rd      connReader
	out     outBuf
	peer    string      // the client's IP
	idle    atomic.Bool // waiting for a next request

	req        request
	headLen    int
	res        response
	resHeadLen int
	closing    bool // close once this exchange is over
	unread     bool // and the client may still be sending its body: linger
	status     int  // the status the client got (499: none, it left)
	// bodyBytes is the size of the body the client was sent (with chunk
	// framing), for the access log.
	bodyBytes int64

	// For the policies that read the request: one http.Request per
	// connection, refilled per request.
	hreq http.Request
	url  url.URL
	hdr  http.Header

	id        [128]byte // X-Request-Id
	idLen     int
	bodyStart time.Time
	tmpl      []byte // the backend's request head but the Host line
	split     int    // where the Host line goes in tmpl
	tried     []*balancer.Backend
}

func (s *Server) newConn(conn net.Conn, handoff *platform.HandoffListener) *clientConn {
	c := &clientConn{s: s, conn: conn, handoff: handoff, hdr: http.Header{}}
	c.rd = connReader{conn: conn, buf: make([]byte, bufSize)}
	c.out = outBuf{conn: conn, b: make([]byte, 0, bufSize)}
	if ta, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		c.peer = ta.AddrPort().Addr().Unmap().String()
	} else if host, _, err := net.SplitHostPort(conn.RemoteAddr().String()); err == nil {
		c.peer = host
	}
	c.hreq = http.Request{URL: &c.url, Header: c.hdr, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		RemoteAddr: conn.RemoteAddr().String()}
	s.conns.Add(conn, &c.idle)
	return c
}

// serve reads and answers requests until the connection ends.
func (c *clientConn) serve() {
	handedOff := false
	defer func() {
		c.s.conns.Remove(c.conn)
		switch {
		case handedOff:
		case c.unread:
			platform.LingerClose(c.conn, lingerTime, lingerBytes)
		default:
			c.conn.Close()
		}
	}()
	for {
		err := c.readHead()
		if err != nil {
			var he *headError
			if errors.As(err, &he) {
				c.refuse(he)
			}
			return
		}
		if c.req.h2Preface || c.req.upgrade || c.req.expect || equalFold(c.req.method, "connect") {
			// The bytes of this request are still in the buffer: net/http
			// reads them again from the start.
			c.conn.SetReadDeadline(time.Time{})
			if c.handoff.Hand(c.conn, c.rd.buffered()) {
				handedOff = true
			}
			return
		}
		c.closing = c.req.close || c.s.closingAll()
		c.prepareRequest()
		c.serveRequest()
		if c.closing {
			return
		}
	}
}

// readHead waits for the next request head and parses it. The idle
// timeout covers the wait for its first bytes, the header timeout the rest.
func (c *clientConn) readHead() error {
	s := c.s
	headTimer := false
	for {
		if len(c.rd.buffered()) > 0 {
			n, err := parseRequest(c.rd.buffered(), &c.req)
			if err != errIncomplete {
				c.headLen = n
				return err
			}
			if !headTimer {
				headTimer = true
				c.conn.SetReadDeadline(time.Now().Add(s.cfg.HeaderTimeout))
			}
		} else {
			c.idle.Store(true)
			if s.draining.Load() {
				return net.ErrClosed
			}
			c.conn.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		}
		err := c.rd.fill(s.cfg.MaxHeaderBytes)
		c.idle.Store(false)
		if err != nil {
			return err
		}
	}
}

// refuse answers a head the lb will not forward, and the connection
// closes: after a malformed head, nothing on it can be trusted.
func (c *clientConn) refuse(he *headError) {
	c.out.b = c.out.b[:0]
	c.idLen = 0
	c.closing = true
	c.writePlain(he.status, "", statusText(he.status)+": "+he.msg)
}

// prepareRequest refills the connection's http.Request with what the
// metrics read (the method), the access log (the path), and the policy
// when it reads anything (headers, host, path, client address).
func (c *clientConn) prepareRequest() {
	r := &c.hreq
	r.Method = methodString(c.req.method)
	r.ProtoMinor = c.req.minor
	r.Proto = "HTTP/1.1"
	if c.req.minor == 0 {
		r.Proto = "HTTP/1.0"
	}
	clear(c.hdr)
	r.Header = c.hdr
	r.URL = &c.url
	if c.s.logRequests || c.s.readsRequest {
		c.url = url.URL{}
		if u, err := url.ParseRequestURI(string(c.req.target)); err == nil {
			c.url = *u
		} else {
			c.url.Path = string(c.req.target)
		}
	}
	if c.s.readsRequest {
		for _, f := range c.req.fields {
			k := http.CanonicalHeaderKey(string(f.name))
			c.hdr[k] = append(c.hdr[k], string(f.value))
		}
		r.Host = string(c.req.host)
		r.ContentLength = max(c.req.contentLength, 0)
		ctx := context.Background()
		if len(c.s.cfg.Forward.Trusted) > 0 {
			ctx = balancer.WithClientAddr(ctx, c.s.cfg.Forward.Trusted.ClientAddr(c.peer, c.hdr.Values("X-Forwarded-For")))
		}
		*r = *r.WithContext(ctx)
	}
}

// methodString avoids allocating the common methods.
func methodString(m []byte) string {
	switch string(m) {
	case "GET":
		return http.MethodGet
	case "HEAD":
		return http.MethodHead
	case "POST":
		return http.MethodPost
	case "PUT":
		return http.MethodPut
	case "DELETE":
		return http.MethodDelete
	case "OPTIONS":
		return http.MethodOptions
	case "PATCH":
		return http.MethodPatch
	}
	return string(m)
}

// serveRequest forwards one request and records it as the platform
// records the requests of its HTTP servers.
func (c *clientConn) serveRequest() {
	route := c.s.cfg.Route
	var start time.Time
	if route != nil {
		start = route.Start()
	}
	c.setRequestID()
	c.bodyBytes = 0
	c.exchange(&c.hreq)
	if route != nil {
		served := platform.Served{Method: c.hreq.Method, Status: c.status, Bytes: c.bodyBytes}
		if c.s.logRequests {
			served.Path = c.url.Path
			served.RequestID = string(c.id[:c.idLen])
		}
		route.Record(context.Background(), start, served)
	}
}
