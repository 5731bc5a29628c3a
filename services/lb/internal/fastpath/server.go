// Package fastpath is the lb's purpose-built HTTP/1.1 forwarding engine
// (LB_ENGINE=fast): it reads request heads in place, writes the backend a
// fresh head and small bodies in one write on a pooled keep-alive
// connection, and streams the answer back, with one goroutine per client
// connection and none per backend connection.
//
// The std engine (internal/proxy: httputil.ReverseProxy over
// http.Transport) spends most of its CPU in machinery a proxy does not
// need: a server and a transport that each buffer and flush separately, a
// read and a write goroutine per backend connection, http.Header maps and
// contexts for every request. The fast path keeps everything the lb
// promises: the same balancer.Policy and health pool, retries within the
// same budget, the connect, try and request timeouts, the same 502/503/504
// answers, X-Forwarded-*, X-Request-Id, Via, hop-by-hop removal, 499 for a
// client that leaves, and the same metrics.
//
// Why not valyala/fasthttp, which a quick loop showed fast: its server
// and client each keep their own idea of framing, header normalisation
// and retries, which is exactly where smuggling lives, and its client
// buffers whole bodies unless told otherwise. A few hundred lines that
// parse strictly and write canonical heads are easier to check than a
// large dependency's defaults. What the fast path does not speak is handed,
// connection and all, to a net/http server with the std engine (see
// handoff.go).
package fastpath

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/lb/internal/forward"
	"scalelab/services/platform"
)

// Config is what the fast path shares with the std engine, and its limits.
type Config struct {
	Pool    forward.Pool
	Policy  balancer.Policy
	Metrics *forward.Metrics
	Forward forward.Config
	// ConnectTimeout bounds a dial to a backend (LB_CONNECT_TIMEOUT).
	ConnectTimeout time.Duration
	Logger         *slog.Logger
	// Instrument wraps the handling of every request as the std engine's
	// handler is wrapped, svc.HTTP.Wrap("/", h): the same
	// scalelab_lb_http_* series and access log. nil: no wrapping.
	Instrument func(http.Handler) http.Handler
	// Fallback serves the connections the fast path hands over; nil
	// answers them 501 instead.
	Fallback http.Handler

	HeaderTimeout   time.Duration // a request head must arrive within this (5 s)
	IdleTimeout     time.Duration // keep-alive wait for the next request (90 s)
	MaxHeaderBytes  int           // 64 KiB, as the platform's server
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT: in-flight requests finish within it
	DrainDelay      time.Duration // DRAIN_DELAY: /readyz says 503 this long before the listener closes
}

// Server is the fast engine on one listener.
type Server struct {
	cfg          Config
	handler      http.Handler // one exchange, instrumented
	readsRequest bool         // the policy needs a full *http.Request
	logRequests  bool
	picker       *forward.Picker
	backends     *pool
	fallback     *http.Server
	// The errors of a try cut short by either timeout, made once.
	tryLimit, requestLimit error

	mu       sync.Mutex
	conns    map[*clientConn]struct{}
	draining atomic.Bool
	wg       sync.WaitGroup
}

// New returns a server; Serve runs it.
func New(cfg Config) *Server {
	if cfg.HeaderTimeout <= 0 {
		cfg.HeaderTimeout = 5 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 90 * time.Second
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = 64 << 10
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:          cfg,
		readsRequest: balancer.ReadsRequest(cfg.Policy),
		logRequests:  cfg.Logger.Enabled(context.Background(), slog.LevelInfo),
		backends:     newPool(),
		conns:        map[*clientConn]struct{}{},
		picker:       forward.NewPicker(cfg.Policy, &cfg.Forward, cfg.Metrics),
	}
	s.tryLimit, s.requestLimit = cfg.Forward.Timeouts()
	h := http.Handler(http.HandlerFunc(s.serveHTTP))
	if cfg.Instrument != nil {
		h = cfg.Instrument(h)
	}
	if s.logRequests {
		// The access log names the request id, which the platform reads
		// from the context WithRequestID makes.
		h = platform.WithRequestID(h)
	}
	s.handler = h
	return s
}

// Serve accepts on ln until ctx is cancelled, then drains as the
// platform's server does: after DrainDelay the listener closes, requests
// in flight get ShutdownTimeout to finish, idle connections are closed.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	handoff := newHandoffListener(ln.Addr())
	fallback := s.cfg.Fallback
	if fallback == nil {
		fallback = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "501 Not Implemented: not supported by LB_ENGINE=fast", http.StatusNotImplemented)
		})
	}
	s.fallback = &http.Server{
		Handler:           fallback,
		ReadHeaderTimeout: s.cfg.HeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
	}
	go s.fallback.Serve(handoff)

	sweepDone := make(chan struct{})
	go s.sweep(sweepDone)

	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			time.Sleep(s.cfg.DrainDelay)
		case <-stopped:
		}
		s.draining.Store(true)
		ln.Close()
	}()

	var err error
	for {
		conn, aerr := ln.Accept()
		if aerr != nil {
			if s.draining.Load() {
				break
			}
			// Out of file descriptors and the like pass: wait a little and
			// accept again, as net/http's server does.
			var te interface{ Temporary() bool }
			if errors.As(aerr, &te) && te.Temporary() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			err = aerr
			break
		}
		c := s.newConn(conn, handoff)
		s.wg.Go(c.serve)
	}
	close(stopped)
	s.draining.Store(true)
	s.shutdown()
	close(sweepDone)
	handoff.Close()
	return err
}

// shutdown waits for connections to finish their request in flight,
// waking the idle ones so they close, up to ShutdownTimeout; then it
// closes what is left.
func (s *Server) shutdown() {
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	fallbackDone := make(chan error, 1)
	go func() { fallbackDone <- s.fallback.Shutdown(shutdownCtx) }()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s.wakeIdle()
		select {
		case <-done:
		case <-shutdownCtx.Done():
			s.cfg.Logger.Warn("shutdown timeout passed with requests in flight; closed them")
			s.closeAll()
			s.fallback.Close()
			<-done
		case <-tick.C:
			continue
		}
		break
	}
	<-fallbackDone
	s.backends.close()
}

// wakeIdle makes every connection waiting for a next request stop
// waiting; it sees that the server is draining and closes. (Repeated until
// they are gone: a connection may set its own deadline just after.)
func (s *Server) wakeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.idle.Load() {
			c.conn.SetReadDeadline(time.Unix(1, 0))
		}
	}
}

func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.conn.Close()
	}
}

// sweep closes idle backend connections that aged out, or whose backend
// discovery dropped.
func (s *Server) sweep(done chan struct{}) {
	t := time.NewTicker(backendIdleTimeout / 4)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			avail := s.cfg.Pool.Available()
			s.backends.sweep(now, func(b *balancer.Backend) bool {
				for _, a := range avail {
					if a == b {
						return true
					}
				}
				return false
			})
		}
	}
}

// clientConn is one client connection and the state of its request.
type clientConn struct {
	s       *Server
	conn    net.Conn
	handoff *handoffListener
	rd      connReader
	out     outBuf
	peer    string      // the client's IP
	idle    atomic.Bool // waiting for a next request

	req        request
	headLen    int
	res        response
	resHeadLen int
	closing    bool // close once this exchange is over
	status     int  // the status the client got (499: none, it left)
	// bodyBytes is the size of the body the client was sent (with chunk
	// framing), for the access log.
	bodyBytes int64

	// For the instrumentation and policies that read the request: one
	// http.Request per connection, refilled per request.
	hreq    http.Request
	url     url.URL
	hdr     http.Header
	respHdr http.Header

	id        [128]byte // X-Request-Id
	idLen     int
	bodyStart time.Time
	tmpl      []byte // the backend's request head but the Host line
	split     int    // where the Host line goes in tmpl
	tried     []*balancer.Backend
}

func (s *Server) newConn(conn net.Conn, handoff *handoffListener) *clientConn {
	c := &clientConn{s: s, conn: conn, handoff: handoff, hdr: http.Header{}, respHdr: http.Header{}}
	c.rd = connReader{conn: conn, buf: make([]byte, bufSize)}
	c.out = outBuf{conn: conn, b: make([]byte, 0, bufSize)}
	if ta, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		c.peer = ta.AddrPort().Addr().Unmap().String()
	} else if host, _, err := net.SplitHostPort(conn.RemoteAddr().String()); err == nil {
		c.peer = host
	}
	c.hreq = http.Request{URL: &c.url, Header: c.hdr, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		RemoteAddr: conn.RemoteAddr().String()}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return c
}

// serve reads and answers requests until the connection ends.
func (c *clientConn) serve() {
	handedOff := false
	defer func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
		if !handedOff {
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
			pc := &prefixedConn{Conn: c.conn, prefix: append([]byte(nil), c.rd.buffered()...)}
			c.conn.SetReadDeadline(time.Time{})
			if c.handoff.hand(pc) {
				handedOff = true
			}
			return
		}
		c.closing = c.req.close || c.s.draining.Load()
		c.prepareRequest()
		c.s.handler.ServeHTTP(c, &c.hreq)
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
// instrumentation reads (the method), and what the policy reads when it
// reads anything (headers, host, path, client address).
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
		if len(c.req.requestID) > 0 {
			c.hdr[platform.RequestIDHeader] = []string{string(c.req.requestID)}
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

// The connection is the http.ResponseWriter the instrumentation wraps; it
// records the status it is given, the exchange writes the wire itself.

func (c *clientConn) Header() http.Header         { return c.respHdr }
func (c *clientConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *clientConn) WriteHeader(int)             {}

// connOf finds the connection under the instrumentation's writers.
func connOf(w http.ResponseWriter) *clientConn {
	for {
		switch t := w.(type) {
		case *clientConn:
			return t
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return nil
		}
	}
}

// serveHTTP is the exchange as an http.Handler, under the instrumentation.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	c := connOf(w)
	if c == nil {
		http.Error(w, "fastpath: not a fast path connection", http.StatusInternalServerError)
		return
	}
	c.setRequestID()
	c.bodyBytes = 0
	c.exchange(r)
	w.WriteHeader(c.status)
	if s.logRequests {
		// The access log's "bytes": the writer below discards what it is
		// given, so this costs no copy, only the count.
		for n := c.bodyBytes; n > 0; {
			k := int(min(n, int64(len(zeros))))
			w.Write(zeros[:k])
			n -= int64(k)
		}
	}
}

var zeros [16 << 10]byte
