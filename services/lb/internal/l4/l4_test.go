package l4

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"scalelab/services/lb/internal/balancer"
)

// Bytes arrive intact both ways at once, the byte counters add up, and a
// connection both sides closed is counted as closed, with nothing left
// active.
func TestRoundTrip(t *testing.T) {
	modes(t, func(t *testing.T, stamped bool) {
		be := startBackend(t, echo)
		lb := start(t, Config{Backends: func() []*balancer.Backend { return backendList(be) }}, stamped)
		const size = 4<<20 + 123 // not a multiple of copyChunk or of any buffer
		payload := make([]byte, size)
		rand.Read(payload)

		c := lb.dial(t)
		werr := make(chan error, 1)
		go func() {
			_, err := c.Write(payload)
			if err == nil {
				err = c.CloseWrite()
			}
			werr <- err
		}()
		got, err := readAll(t, c)
		if err != nil {
			t.Fatalf("read: %v after %d bytes", err, len(got))
		}
		if err := <-werr; err != nil {
			t.Fatalf("write: %v", err)
		}
		if len(got) != size || sha256.Sum256(got) != sha256.Sum256(payload) {
			t.Fatalf("echoed %d bytes, want the %d sent, unchanged", len(got), size)
		}
		addr := be.Addr
		lb.waitMetric(t, 1, "scalelab_lb_l4_connections_total", "backend", addr, "result", "closed")
		for _, dir := range []string{"to_backend", "to_client"} {
			if got := lb.metric(t, "scalelab_lb_l4_bytes_total", "backend", addr, "direction", dir); got != size {
				t.Errorf("bytes %s = %v, want %d", dir, got, size)
			}
		}
		if got := lb.metric(t, "scalelab_lb_l4_active_connections", "backend", addr); got != 0 {
			t.Errorf("active connections = %v after close, want 0", got)
		}
	})
}

// A half-close travels through the balancer and leaves the other
// direction open, whichever side shuts down writing first.
func TestHalfClose(t *testing.T) {
	modes(t, func(t *testing.T, stamped bool) {
		t.Run("client first", func(t *testing.T) {
			// The backend answers only after the request has ended (EOF),
			// as a request-then-shutdown protocol does.
			be := startBackend(t, func(c net.Conn) {
				req, _ := io.ReadAll(c)
				fmt.Fprintf(c, "got %q", req)
			})
			lb := start(t, Config{Backends: func() []*balancer.Backend { return backendList(be) }}, stamped)
			c := lb.dial(t)
			io.WriteString(c, "request")
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, c)
			if err != nil || string(got) != `got "request"` {
				t.Fatalf("answer %q, %v; want the backend to see EOF after the request and still answer", got, err)
			}
		})
		t.Run("backend first", func(t *testing.T) {
			received := make(chan string, 1)
			be := startBackend(t, func(c net.Conn) {
				io.WriteString(c, "hello")
				c.(*net.TCPConn).CloseWrite()
				rest, _ := io.ReadAll(c)
				received <- string(rest)
			})
			lb := start(t, Config{Backends: func() []*balancer.Backend { return backendList(be) }}, stamped)
			c := lb.dial(t)
			got, err := readAll(t, c)
			if err != nil || string(got) != "hello" {
				t.Fatalf("read %q, %v; want hello and then EOF", got, err)
			}
			// The backend shut down writing, not reading: the client can
			// still send.
			if _, err := io.WriteString(c, "still here"); err != nil {
				t.Fatal(err)
			}
			c.CloseWrite()
			select {
			case rest := <-received:
				if rest != "still here" {
					t.Fatalf("backend received %q after its half-close, want %q", rest, "still here")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("backend never saw the client's bytes and EOF")
			}
		})
	})
}

func TestRoundRobinSpreadsConnections(t *testing.T) {
	names := []string{"b0", "b1", "b2"}
	var bs []any
	for _, n := range names {
		bs = append(bs, startBackend(t, named(n)))
	}
	lb := start(t, Config{Backends: func() []*balancer.Backend { return backendList(bs...) }})
	counts := map[string]int{}
	for i := range 30 {
		c := lb.dial(t)
		got := greeting(t, c)
		if want := names[i%len(names)]; got != want {
			t.Fatalf("connection %d went to %s, want %s", i, got, want)
		}
		counts[got]++
		c.Close()
	}
	for _, n := range names {
		if counts[n] != 10 {
			t.Errorf("%s got %d connections, want 10 (%v)", n, counts[n], counts)
		}
	}
}

// Least connections sends new connections where fewest are open: after
// two connections to one backend close, the next two both go there, where
// round robin would alternate.
func TestLeastConn(t *testing.T) {
	bx, by := startBackend(t, named("x")), startBackend(t, named("y"))
	lb := start(t, Config{Policy: &LeastConn{}, Backends: func() []*balancer.Backend { return backendList(bx, by) }})
	addrOf := map[string]string{"x": bx.Addr, "y": by.Addr}
	open := map[string][]net.Conn{}
	connect := func() string {
		c := lb.dial(t)
		name := greeting(t, c)
		open[name] = append(open[name], c)
		return name
	}
	first, second := connect(), connect()
	if first == second {
		t.Fatalf("second connection went to %s with one open there and none on the other", second)
	}
	third, fourth := connect(), connect()
	if third == fourth {
		t.Fatalf("with 1 and 1 open, connections 3 and 4 both went to %s", third)
	}
	// Close both connections to the first backend and wait until the
	// balancer has seen them go.
	for _, c := range open[first] {
		c.Close()
	}
	lb.await(t, "active connections to the first backend down to 0", func() bool { return lb.ActiveConns()[addrOf[first]] == 0 })
	if got := connect(); got != first {
		t.Fatalf("with 0 open on %s and 2 on the other, connection went to %s", first, got)
	}
	if got := connect(); got != first {
		t.Fatalf("with 1 open on %s and 2 on the other, connection went to %s", first, got)
	}
	if got := lb.metric(t, "scalelab_lb_l4_active_connections", "backend", addrOf[first]); got != 2 {
		t.Errorf("active connections gauge for %s = %v, want 2", first, got)
	}
}

// A refused dial costs the client nothing: it is sent to the next
// backend, and the failure is counted against the dead one.
func TestDeadBackendSkipped(t *testing.T) {
	for _, policy := range []string{"round_robin", "least_conn"} {
		t.Run(policy, func(t *testing.T) {
			dead1, dead2 := deadBackend(t), deadBackend(t)
			alive := startBackend(t, named("alive"))
			p, _ := NewPolicy(policy)
			lb := start(t, Config{Policy: p, DialAttempts: 3,
				Backends: func() []*balancer.Backend { return backendList(dead1, alive, dead2) }})
			const conns = 12
			for i := range conns {
				c := lb.dial(t)
				if got := greeting(t, c); got != "alive" {
					t.Fatalf("connection %d reached %q", i, got)
				}
				c.Close()
			}
			if n := alive.accepts.Load(); n != conns {
				t.Errorf("live backend accepted %d connections, want %d", n, conns)
			}
			// Round robin starts each client on the next backend in turn, so
			// both dead ones get tried; least_conn spreads ties in turn too.
			for _, d := range []string{dead1.Addr, dead2.Addr} {
				if got := lb.metric(t, "scalelab_lb_l4_dial_failures_total", "backend", d); got < 1 {
					t.Errorf("dial failures for dead %s = %v, want at least 1", d, got)
				}
			}
			lb.waitMetric(t, conns, "scalelab_lb_l4_connections_total", "backend", alive.Addr)
			if got := lb.metric(t, "scalelab_lb_l4_connections_total", "result", "no_backend"); got != 0 {
				t.Errorf("no_backend connections = %v, want 0", got)
			}
		})
	}
}

// Dial outcomes reach the health tracker: a refusal as a failure of the
// dead backend, a connection as a success of the live one.
func TestObserveDials(t *testing.T) {
	dead := deadBackend(t)
	alive := startBackend(t, named("alive"))
	var mu sync.Mutex
	seen := map[string][]bool{}
	lb := start(t, Config{DialAttempts: 2,
		Backends: func() []*balancer.Backend { return backendList(dead, alive) },
		Observe: func(b *balancer.Backend, failed bool) {
			mu.Lock()
			seen[b.Addr] = append(seen[b.Addr], failed)
			mu.Unlock()
		}})
	for range 4 {
		c := lb.dial(t)
		if got := greeting(t, c); got != "alive" {
			t.Fatalf("reached %q", got)
		}
		c.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if got := seen[dead.Addr]; len(got) == 0 || slices.Contains(got, false) {
		t.Errorf("dead backend observed %v, want failures only, at least one", got)
	}
	if got := seen[alive.Addr]; len(got) != 4 || got[0] || got[1] || got[2] || got[3] {
		t.Errorf("live backend observed %v, want four successes", got)
	}
}

// When every backend tried is dead the client's connection is closed
// without a byte, after exactly DialAttempts dials.
func TestAllBackendsDead(t *testing.T) {
	dead := []any{deadBackend(t), deadBackend(t), deadBackend(t)}
	lb := start(t, Config{DialAttempts: 2, Backends: func() []*balancer.Backend { return backendList(dead...) }})
	for i := range 3 {
		c := lb.dial(t)
		got, err := readAll(t, c)
		if len(got) != 0 || (err != nil && !isReset(err)) {
			t.Fatalf("client %d got %q, %v; want the connection closed with nothing sent", i, got, err)
		}
		lb.waitMetric(t, float64(i+1), "scalelab_lb_l4_connections_total", "backend", "none", "result", "no_backend")
		if got := lb.metric(t, "scalelab_lb_l4_dial_failures_total"); got != float64(2*(i+1)) {
			t.Fatalf("after %d clients, %v dial failures; want 2 per client (L4_DIAL_ATTEMPTS)", i+1, got)
		}
	}
}

func TestNoBackends(t *testing.T) {
	lb := start(t, Config{Backends: func() []*balancer.Backend { return nil }})
	got, err := readAll(t, lb.dial(t))
	if len(got) != 0 || (err != nil && !isReset(err)) {
		t.Fatalf("got %q, %v; want the connection closed", got, err)
	}
	lb.waitMetric(t, 1, "scalelab_lb_l4_connections_total", "backend", "none", "result", "no_backend")
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET)
}

// The idle timeout closes a silent connection, and only a silent one: a
// trickle of data in either direction, with gaps far shorter than the
// timeout, keeps it open much longer than the timeout.
func TestIdleTimeout(t *testing.T) {
	const idle = time.Second
	modes(t, func(t *testing.T, stamped bool) {
		t.Parallel() // the modes wait side by side
		t.Run("silent connection is closed", func(t *testing.T) {
			t.Parallel()
			be := startBackend(t, echo)
			lb := start(t, Config{IdleTimeout: idle, Backends: func() []*balancer.Backend { return backendList(be) }}, stamped)
			started := time.Now() // before the dial: the server counts from its accept, which is later
			c := lb.dial(t)
			got, err := readAll(t, c)
			if len(got) != 0 || (err != nil && !isReset(err)) {
				t.Fatalf("got %q, %v; want the connection closed", got, err)
			}
			if waited := time.Since(started); waited < idle {
				t.Fatalf("closed after %v, before the idle timeout %v", waited, idle)
			}
			lb.waitMetric(t, 1, "scalelab_lb_l4_connections_total", "backend", be.Addr, "result", "idle_timeout")
		})
		const gap, lasting = 100 * time.Millisecond, 3 * idle
		t.Run("trickle to backend keeps it open", func(t *testing.T) {
			t.Parallel()
			// The backend only reads, so nothing flows towards the client.
			received := make(chan int, 1)
			be := startBackend(t, func(c net.Conn) {
				n, _ := io.Copy(io.Discard, c)
				received <- int(n)
			})
			lb := start(t, Config{IdleTimeout: idle, Backends: func() []*balancer.Backend { return backendList(be) }}, stamped)
			c := lb.dial(t)
			sent := 0
			for start := time.Now(); time.Since(start) < lasting; sent++ {
				if _, err := c.Write([]byte{'.'}); err != nil {
					t.Fatalf("write after %d bytes: %v", sent, err)
				}
				time.Sleep(gap)
			}
			c.CloseWrite()
			select {
			case n := <-received:
				if n != sent {
					t.Fatalf("backend received %d bytes, want %d", n, sent)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("backend never saw EOF")
			}
			lb.waitMetric(t, 1, "scalelab_lb_l4_connections_total", "backend", be.Addr, "result", "closed")
		})
		t.Run("trickle to client keeps it open", func(t *testing.T) {
			t.Parallel()
			sent := make(chan int, 1)
			be := startBackend(t, func(c net.Conn) {
				n := 0
				for start := time.Now(); time.Since(start) < lasting; n++ {
					if _, err := c.Write([]byte{'.'}); err != nil {
						break
					}
					time.Sleep(gap)
				}
				sent <- n
			})
			lb := start(t, Config{IdleTimeout: idle, Backends: func() []*balancer.Backend { return backendList(be) }}, stamped)
			c := lb.dial(t)
			c.SetReadDeadline(time.Now().Add(lasting + 10*time.Second))
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("read %d bytes, then %v", len(got), err)
			}
			if n := <-sent; len(got) != n {
				t.Fatalf("client received %d bytes, backend sent %d", len(got), n)
			}
			if got := lb.metric(t, "scalelab_lb_l4_connections_total", "result", "idle_timeout"); got != 0 {
				t.Fatalf("idle_timeout count = %v, want 0", got)
			}
		})
	})
}

// On shutdown the balancer stops accepting at once, lets an open
// connection carry on, and returns when it has finished.
func TestShutdownDrains(t *testing.T) {
	be := startBackend(t, echo)
	lb := start(t, Config{ShutdownTimeout: time.Minute, Backends: func() []*balancer.Backend { return backendList(be) }})
	c := lb.dial(t)
	roundTrip := func(msg string) {
		t.Helper()
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo %q, %v; want %q", buf, err, msg)
		}
	}
	roundTrip("before")
	lb.stop()
	waitRefused(t, lb)
	roundTrip("during the drain")
	select {
	case err := <-lb.done:
		t.Fatalf("Serve returned (%v) with a connection still open", err)
		lb.done <- err
	case <-time.After(100 * time.Millisecond):
	}
	c.CloseWrite()
	if rest, err := readAll(t, c); err != nil || len(rest) != 0 {
		t.Fatalf("after the half-close: %q, %v; want EOF", rest, err)
	}
	select {
	case err := <-lb.done:
		lb.done <- err
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the last connection closed")
	}
	// One closed connection (the client's), none cut by the shutdown.
	if got := lb.metric(t, "scalelab_lb_l4_connections_total", "backend", be.Addr, "result", "closed"); got != 1 {
		t.Errorf("closed connections = %v, want 1", got)
	}
	if got := lb.metric(t, "scalelab_lb_l4_connections_total", "backend", be.Addr, "result", "shutdown"); got != 0 {
		t.Errorf("connections cut by the shutdown = %v, want 0", got)
	}
}

// A connection still open when SHUTDOWN_TIMEOUT runs out is closed.
func TestShutdownBound(t *testing.T) {
	be := startBackend(t, echo)
	lb := start(t, Config{ShutdownTimeout: 200 * time.Millisecond, Backends: func() []*balancer.Backend { return backendList(be) }})
	c := lb.dial(t)
	io.WriteString(c, "x")
	buf := make([]byte, 1)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	lb.stop()
	select {
	case err := <-lb.done:
		lb.done <- err
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the shutdown bound")
	}
	if got, err := readAll(t, c); len(got) != 0 || (err != nil && !isReset(err)) {
		t.Fatalf("client got %q, %v; want its connection closed", got, err)
	}
	if got := lb.metric(t, "scalelab_lb_l4_connections_total", "backend", be.Addr, "result", "shutdown"); got != 1 {
		t.Errorf("shutdown connections = %v, want 1", got)
	}
}

// waitRefused waits until the server says it closed its listener, then
// checks that addr refuses connections.
func waitRefused(t *testing.T, lb *running) {
	t.Helper()
	lb.await(t, "the listener closed", func() bool { return strings.Contains(lb.logs.String(), `"msg":"listener closed; draining"`) })
	if c, err := net.DialTimeout("tcp", lb.addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the listener still accepts once it said it closed")
	}
}

// The PROXY header the backend receives is exactly what the spec says,
// with the client's address and the address it connected to, and the
// client's bytes follow it untouched.
func TestProxyProtocolOnTheWire(t *testing.T) {
	for _, version := range []ProxyProtocol{ProxyV1, ProxyV2} {
		t.Run(version.String(), func(t *testing.T) {
			type seen struct {
				hdr  proxyHeader
				rest string
				err  error
			}
			got := make(chan seen, 1)
			be := startBackend(t, func(c net.Conn) {
				r := bufioReader(c)
				hdr, err := readProxyHeader(r, version)
				rest, _ := io.ReadAll(r)
				got <- seen{hdr, string(rest), err}
			})
			lb := start(t, Config{ProxyProtocol: version, Backends: func() []*balancer.Backend { return backendList(be) }})
			c := lb.dial(t)
			io.WriteString(c, "PROXY payload that merely looks like a header\r\n")
			c.CloseWrite()
			var s seen
			select {
			case s = <-got:
			case <-time.After(10 * time.Second):
				t.Fatal("backend never got the connection")
			}
			if s.err != nil {
				t.Fatalf("header: %v", s.err)
			}
			want := proxyHeader{family: "TCP4", src: c.LocalAddr().String(), dst: c.RemoteAddr().String()}
			if s.hdr != want {
				t.Errorf("header %+v, want %+v", s.hdr, want)
			}
			if s.rest != "PROXY payload that merely looks like a header\r\n" {
				t.Errorf("after the header the backend read %q", s.rest)
			}
		})
	}
}

// Without PROXY protocol the backend gets the client's bytes and nothing else.
func TestProxyProtocolOff(t *testing.T) {
	got := make(chan []byte, 1)
	be := startBackend(t, func(c net.Conn) { b, _ := io.ReadAll(c); got <- b })
	lb := start(t, Config{Backends: func() []*balancer.Backend { return backendList(be) }})
	c := lb.dial(t)
	io.WriteString(c, "hello")
	c.CloseWrite()
	if b := <-got; !bytes.Equal(b, []byte("hello")) {
		t.Fatalf("backend read %q, want hello", b)
	}
}

// Many clients at once, each with its own data: no bytes cross between
// connections, and the books balance afterwards.
func TestConcurrentClients(t *testing.T) {
	bs := []any{startBackend(t, echo), startBackend(t, echo)}
	lb := start(t, Config{Policy: &LeastConn{}, Backends: func() []*balancer.Backend { return backendList(bs...) }})
	const clients = 32
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Go(func() {
			c, err := net.Dial("tcp", lb.addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			msg := bytes.Repeat([]byte(fmt.Sprintf("client %d;", i)), 1000)
			go func() { c.Write(msg); c.(*net.TCPConn).CloseWrite() }()
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, msg) {
				errs <- fmt.Errorf("client %d: %d bytes back (%v), want its own %d", i, len(got), err, len(msg))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	lb.waitMetric(t, clients, "scalelab_lb_l4_connections_total", "result", "closed")
	lb.waitMetric(t, 0, "scalelab_lb_l4_active_connections")
}
