package hitpath

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync/atomic"
	"time"

	"scalelab/services/platform"
)

// bufSize is a connection's read buffer: a head that does not fit goes to
// net/http, whose limit is larger.
const bufSize = 8 << 10

// inlineBody is the largest body copied behind the head into one write;
// a larger one is written from the store with writev, head and body in
// one system call without a copy.
const inlineBody = 16 << 10

// conn is one client connection.
type conn struct {
	s       *Server
	nc      net.Conn
	handoff *platform.HandoffListener
	idle    atomic.Bool // waiting for a next request

	buf        []byte // buf[start:end] is read and not yet answered
	start, end int
	out        []byte      // the answer's head, reused
	bufs       net.Buffers // head and body for writev
	req        request
	// idleSince is when the idle deadline was last set: it is moved at
	// most once a second, not per request (each move is a timer update).
	// Zero after a head deadline, which the next wait must replace.
	idleSince time.Time
}

func (s *Server) newConn(nc net.Conn, handoff *platform.HandoffListener) *conn {
	c := &conn{s: s, nc: nc, handoff: handoff, buf: make([]byte, bufSize), out: make([]byte, 0, 1024)}
	s.conns.Add(nc, &c.idle)
	return c
}

// serve answers requests until the connection ends or is handed over.
func (c *conn) serve() {
	handedOff := false
	defer func() {
		c.s.conns.Remove(c.nc)
		if !handedOff {
			c.nc.Close()
		}
	}()
	for {
		n, ok, err := c.readHead()
		if err != nil {
			return
		}
		if ok && parseHead(c.buf[c.start:c.start+n], &c.req) && c.answer() {
			c.start += n
			if c.start == c.end {
				c.start, c.end = 0, 0
			}
			if c.req.closing || c.s.draining.Load() {
				c.closeWriteAndWait()
				return
			}
			continue
		}
		// The request's bytes are still buffered: net/http reads them
		// again from the start.
		c.nc.SetReadDeadline(time.Time{})
		handedOff = c.handoff.Hand(c.nc, c.buf[c.start:c.end])
		return
	}
}

// closeWriteAndWait ends the connection after an answer with Connection:
// close as net/http does: closing a socket with unread bytes (a request the
// client sent meanwhile) resets it, and the reset can destroy the answer
// before the client reads it. So the write side closes first, and the
// connection waits, at most half a second, for the client to close its own.
func (c *conn) closeWriteAndWait() {
	tc, ok := c.nc.(*net.TCPConn)
	if !ok || tc.CloseWrite() != nil {
		return
	}
	tc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	io.Copy(io.Discard, tc)
}

// readHead waits until a whole request head is buffered and returns its
// length; ok is false when it cannot be (the buffer is full first), and
// the request goes to net/http. The idle timeout covers the wait for the
// first bytes, the header timeout the rest.
func (c *conn) readHead() (n int, ok bool, err error) {
	headTimer := false
	for {
		if c.end > c.start {
			if i := bytes.Index(c.buf[c.start:c.end], []byte("\r\n\r\n")); i >= 0 {
				return i + 4, true, nil
			}
			if !headTimer {
				headTimer = true
				c.idleSince = time.Time{}
				c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.HeaderTimeout))
			}
		} else {
			c.idle.Store(true)
			if c.s.draining.Load() {
				return 0, false, net.ErrClosed
			}
			if now := time.Now(); now.Sub(c.idleSince) > time.Second {
				c.idleSince = now
				c.nc.SetReadDeadline(now.Add(c.s.cfg.IdleTimeout))
			}
		}
		if c.end == len(c.buf) {
			if c.start == 0 {
				return 0, false, nil
			}
			c.end = copy(c.buf, c.buf[c.start:c.end])
			c.start = 0
		}
		m, err := c.nc.Read(c.buf[c.end:])
		c.idle.Store(false)
		c.end += m
		if err != nil && m == 0 {
			return 0, false, err
		}
	}
}

// answer writes a plain hit for c.req, and records it as the platform
// records its servers' requests; false when the cache has no plain hit
// for it (nothing written).
func (c *conn) answer() bool {
	s := c.s
	now := s.cfg.Cache.Now()
	e := s.cfg.Cache.PlainHit(string(c.req.target), now)
	if e == nil {
		return false
	}
	s.answered.Add(1)
	var start time.Time
	if s.cfg.Route != nil {
		start = s.cfg.Route.Start()
	}
	id := string(c.req.requestID)
	if id == "" {
		id = platform.NewRequestID()
	}
	closing := c.req.closing || s.draining.Load()
	c.out = s.cfg.Cache.AppendHitHead(c.out[:0], e, now, id, closing)
	var err error
	if len(e.Body) <= inlineBody {
		c.out = append(c.out, e.Body...)
		_, err = c.nc.Write(c.out)
	} else {
		c.bufs = append(c.bufs[:0], c.out, e.Body)
		_, err = c.bufs.WriteTo(c.nc)
	}
	if err != nil {
		c.req.closing = true // the client is gone: nothing more on this connection
	}
	if s.cfg.Route != nil {
		served := platform.Served{Method: "GET", Status: 200, Bytes: int64(len(e.Body))}
		if s.logRequests {
			path, _, _ := bytes.Cut(c.req.target, []byte("?"))
			served.Path, served.RequestID = string(path), id
		}
		s.cfg.Route.Record(context.Background(), start, served)
	}
	return true
}
