package platform

import (
	"bytes"
	"cmp"
	"fmt"
	"log/slog"
	"math"
	"net"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// plainBufSize is a connection's read buffer: a head that does not fit
// goes to net/http, whose limit is larger.
const plainBufSize = 8 << 10

// PlainGetConn is one client connection of PlainGets.
type PlainGetConn struct {
	p       *PlainGets
	nc      net.Conn
	handoff *HandoffListener
	idle    atomic.Bool // waiting for a next request
	drained bool        // the server was draining when this request came

	buf        []byte // buf[start:end] is read and not yet answered
	start, end int
	bufs       net.Buffers // head and body for writev
	// idleSince is when the idle deadline was last set: it is moved at
	// most once a second, not per request (each move is a timer update).
	// Zero after a head deadline, which the next wait must replace.
	idleSince time.Time
	began     time.Time // the answer's start, for Route (Begin)
	requestID string    // the answer's request id (Begin)

	Req PlainGet // the request being answered
	Out []byte   // scratch for Answer (an answer's head), reused
}

// Handle serves nc until it ends or is handed over.
func (p *PlainGets) Handle(nc net.Conn, handoff *HandoffListener) {
	c := &PlainGetConn{p: p, nc: nc, handoff: handoff, buf: make([]byte, plainBufSize), Out: make([]byte, 0, 1024)}
	p.conns.Add(nc, &c.idle)
	c.serve()
}

// Closing reports whether the answer must end the connection (and say
// Connection: close): the client asked, or the server or its service was
// draining when the request came (decided once, so that an answer that
// said keep-alive is never followed by a close).
func (c *PlainGetConn) Closing() bool { return c.Req.Closing || c.drained }

// Write writes an answer (or the part of it in b); after a failed write,
// the connection ends once the answer is over.
func (c *PlainGetConn) Write(b []byte) error {
	_, err := c.nc.Write(b)
	if err != nil {
		c.Req.Closing = true // the client is gone: nothing more on this connection
	}
	return err
}

// WriteBody writes head and body in one system call (writev), without
// copying the body.
func (c *PlainGetConn) WriteBody(head, body []byte) error {
	c.bufs = append(c.bufs[:0], head, body)
	_, err := c.bufs.WriteTo(c.nc)
	if err != nil {
		c.Req.Closing = true
	}
	return err
}

func (c *PlainGetConn) serve() {
	released := false // handed over, or closed already
	defer func() {
		if v := recover(); v != nil {
			logger := cmp.Or(c.p.Logger, slog.Default())
			logger.Error("panic answering a request; its connection is closed", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
		c.p.conns.Remove(c.nc)
		if !released {
			c.nc.Close()
		}
	}()
	for {
		n, ok, err := c.readHead()
		if err != nil {
			return
		}
		c.drained = c.p.draining()
		if ok && ParsePlainGet(c.buf[c.start:c.start+n], &c.Req) && c.p.Answer(c) {
			c.start += n
			if c.start == c.end {
				c.start, c.end = 0, 0
			}
			if c.Closing() {
				// The client may have sent more meanwhile: closed on
				// it unread, the connection would be reset.
				LingerClose(c.nc, closeLinger, math.MaxInt64)
				released = true
				return
			}
			continue
		}
		// The request's bytes are still buffered: net/http reads them
		// again from the start.
		c.nc.SetReadDeadline(time.Time{})
		released = c.handoff.Hand(c.nc, c.buf[c.start:c.end])
		return
	}
}

// closeLinger is how long a connection answered with Connection: close
// waits for the client to close its own side (LingerClose), as net/http's
// server does.
const closeLinger = 500 * time.Millisecond

// readHead waits until a whole request head is buffered and returns its
// length; ok is false when it cannot be (the buffer is full first), and
// the request goes to net/http. The idle timeout covers the wait for the
// first bytes, the header timeout the rest.
func (c *PlainGetConn) readHead() (n int, ok bool, err error) {
	headTimer := false
	for {
		if c.end > c.start {
			if i := bytes.Index(c.buf[c.start:c.end], []byte("\r\n\r\n")); i >= 0 {
				return i + 4, true, nil
			}
			if !headTimer {
				headTimer = true
				c.idleSince = time.Time{}
				c.nc.SetReadDeadline(time.Now().Add(c.p.HeaderTimeout))
			}
		} else {
			c.idle.Store(true)
			if c.p.stopping.Load() {
				return 0, false, net.ErrClosed
			}
			if now := time.Now(); now.Sub(c.idleSince) > time.Second {
				c.idleSince = now
				c.nc.SetReadDeadline(now.Add(c.p.IdleTimeout))
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
