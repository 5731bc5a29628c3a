package httpcache

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
)

// Tests that must know when the edge's goroutines have reached a point (all
// clients waiting on one fetch, a fill holding its reservation) run in a
// synctest bubble: synctest.Wait returns once every goroutine is blocked,
// with no polling. Real sockets do not block "durably" in a bubble's sense,
// so in a bubble the origin, the edge and the client talk over net.Pipe
// connections of a memNet: newOrigin, newEdge and edge.do use the bubble's
// memNet when the test has one.

// bubbles maps a bubble's *testing.T to its network.
var bubbles sync.Map

// inBubble runs fn in a synctest bubble whose servers and clients talk over
// an in-memory network.
func inBubble(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		bubbles.Store(t, &memNet{listeners: map[string]*memListener{}})
		t.Cleanup(func() { bubbles.Delete(t) })
		fn(t)
	})
}

// netOf returns the test's memNet, or nil outside a bubble.
func netOf(t *testing.T) *memNet {
	if n, ok := bubbles.Load(t); ok {
		return n.(*memNet)
	}
	return nil
}

// settled waits until every goroutine of the bubble is blocked and fails
// the test unless cond then holds.
func settled(t *testing.T, what string, cond func() bool) {
	t.Helper()
	synctest.Wait()
	if !cond() {
		t.Fatalf("once every goroutine was blocked, not yet: %s", what)
	}
}

type memNet struct {
	mu        sync.Mutex
	listeners map[string]*memListener
	dials     int
	client    *http.Client // see clientFor
}

// memConn is the server's side of a dial: it comes from loopback, as in the
// tests on real sockets (the edge lets loopback PURGE).
type memConn struct {
	net.Conn
	local, remote net.Addr
}

func (c *memConn) LocalAddr() net.Addr  { return c.local }
func (c *memConn) RemoteAddr() net.Addr { return c.remote }

type memAddr string

func (a memAddr) Network() string { return "mem" }
func (a memAddr) String() string  { return string(a) }

type memListener struct {
	addr   memAddr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *memListener) Addr() net.Addr { return l.addr }

var errRefused = errors.New("connection refused")

// dial connects to the listener at addr, as DialContext does.
func (n *memNet) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	n.mu.Lock()
	l := n.listeners[addr]
	n.mu.Unlock()
	if l == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errRefused}
	}
	client, server := net.Pipe()
	n.mu.Lock()
	n.dials++
	from := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 10000 + n.dials}
	n.mu.Unlock()
	select {
	case l.conns <- &memConn{Conn: server, local: l.addr, remote: from}:
		return client, nil
	case <-l.closed:
		return nil, &net.OpError{Op: "dial", Net: network, Err: errRefused}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// server serves h as host name (port 80) on n until the test ends.
func (n *memNet) server(t *testing.T, name string, h http.Handler) *httptest.Server {
	t.Helper()
	n.mu.Lock()
	addr := name + ":80"
	for i := 2; n.listeners[addr] != nil; i++ {
		addr = fmt.Sprintf("%s%d:80", name, i)
	}
	l := &memListener{addr: memAddr(addr), conns: make(chan net.Conn), closed: make(chan struct{})}
	n.listeners[addr] = l
	n.mu.Unlock()
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close() // a loopback listener, never used
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// transport dials n; it is closed when the test ends.
func (n *memNet) transport(t *testing.T) *http.Transport {
	tr := &http.Transport{DialContext: n.dial, MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// clientFor returns the client a test's requests go through: over the
// bubble's memNet in a bubble, else http.DefaultClient.
func clientFor(t *testing.T) *http.Client {
	n := netOf(t)
	if n == nil {
		return http.DefaultClient
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.client == nil {
		tr := &http.Transport{DialContext: n.dial, MaxIdleConnsPerHost: 64}
		t.Cleanup(tr.CloseIdleConnections)
		n.client = &http.Client{Transport: tr}
	}
	return n.client
}
