package platform

import (
	"net"
	"sync"
)

// A hand-written HTTP/1.1 engine (the lb's fast path, the edge's hit path)
// answers only the requests it speaks. The others are not refused: their
// connection, with the bytes already read from it, is handed to a net/http
// server running the full handler, and stays there for the rest of its
// life. net/http has no way to adopt a connection with buffered bytes, so
// this listener and the replaying conn below are written here, once.

// HandoffListener is the net/http server's listener: its Accept returns
// the connections handed over with Hand.
type HandoffListener struct {
	addr   net.Addr
	conns  chan net.Conn
	done   chan struct{}
	closed sync.Once
}

// NewHandoffListener returns a listener that reports addr as its address.
func NewHandoffListener(addr net.Addr) *HandoffListener {
	return &HandoffListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

// Hand gives c to the server, which reads buffered (copied here) before
// reading on from c; false when the listener is closed.
func (l *HandoffListener) Hand(c net.Conn, buffered []byte) bool {
	pc := &prefixedConn{Conn: c, prefix: append([]byte(nil), buffered...)}
	select {
	case l.conns <- pc:
		return true
	case <-l.done:
		return false
	}
}

// Accept returns the next connection handed over.
func (l *HandoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept and Hand; it is safe to call more than once.
func (l *HandoffListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

// Addr is the address given to NewHandoffListener.
func (l *HandoffListener) Addr() net.Addr { return l.addr }

// prefixedConn replays bytes already read before reading on.
type prefixedConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixedConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
