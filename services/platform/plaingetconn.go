package platform

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// PlainGets is the connection loop of a hit path (the edge's, the api's):
// it reads request heads in place, lets Answer write the answers it can
// give on the connection itself, and hands the connection, with the bytes
// read, to net/http at the first request Answer does not take (or that
// ParsePlainGet refuses). Its Handle is a HandoffServer's Handle; Conns
// and Draining are that server's.
type PlainGets struct {
	// Answer writes the whole answer to c.Req with c's Write, or returns
	// false having written nothing: the request goes to net/http.
	Answer        func(c *PlainGetConn) bool
	HeaderTimeout time.Duration // a request head must arrive within this
	IdleTimeout   time.Duration // keep-alive wait for the next request

	// Logger gets the panics of Answer: as net/http does for a handler,
	// a panic ends its connection, not the process. Nil: slog's default.
	Logger *slog.Logger

	// CloseAfterAnswer, when set and true, makes every answer end its
	// connection (Connection: close): the service is draining
	// (Service.Draining, during DRAIN_DELAY), and clients must stop
	// reusing their connections before the listener closes.
	CloseAfterAnswer func() bool

	Conns    ConnSet
	Draining atomic.Bool
}

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

	Req PlainGet // the request being answered
	Out []byte   // scratch for Answer (an answer's head), reused
}

// Handle serves nc until it ends or is handed over.
func (p *PlainGets) Handle(nc net.Conn, handoff *HandoffListener) {
	c := &PlainGetConn{p: p, nc: nc, handoff: handoff, buf: make([]byte, plainBufSize), Out: make([]byte, 0, 1024)}
	p.Conns.Add(nc, &c.idle)
	c.serve()
}

// Closing reports whether the answer must end the connection (and say
// Connection: close): the client asked, or the server or its service was
// draining when the request came (decided once, so that an answer that
// said keep-alive is never followed by a close).
func (c *PlainGetConn) Closing() bool { return c.Req.Closing || c.drained }

// draining reports whether the server or its service is draining.
func (p *PlainGets) draining() bool {
	return p.Draining.Load() || (p.CloseAfterAnswer != nil && p.CloseAfterAnswer())
}

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
	handedOff := false
	defer func() {
		if v := recover(); v != nil {
			logger := cmp.Or(c.p.Logger, slog.Default())
			logger.Error("panic answering a request; its connection is closed", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
		c.p.Conns.Remove(c.nc)
		if !handedOff {
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
func (c *PlainGetConn) closeWriteAndWait() {
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
			if c.p.Draining.Load() {
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
