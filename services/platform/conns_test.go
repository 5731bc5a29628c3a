package platform_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"scalelab/services/platform"
)

// echoOnce answers one line and then waits, as an idle keep-alive
// connection does, until it is closed.
type echoOnce struct {
	mu    sync.Mutex
	idle  map[net.Conn]bool
	ready chan struct{} // one value per line answered
}

func newEchoOnce() *echoOnce {
	return &echoOnce{idle: map[net.Conn]bool{}, ready: make(chan struct{}, 16)}
}

func (e *echoOnce) handle(c net.Conn) {
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return
	}
	io.WriteString(c, line)
	e.mu.Lock()
	e.idle[c] = true
	e.mu.Unlock()
	e.ready <- struct{}{}
	io.Copy(io.Discard, c) // until closed
}

func (e *echoOnce) closeIdle() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for c := range e.idle {
		c.Close()
		delete(e.idle, c)
	}
}

func serveConns(t *testing.T, cs *platform.ConnServer, ln net.Listener) (context.CancelFunc, chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cs.Serve(ctx, ln) }()
	t.Cleanup(cancel)
	return cancel, done
}

func waitErr(t *testing.T, done chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(waitTimeout):
		t.Fatal("Serve did not return")
		return nil
	}
}

func dialAndEcho(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	io.WriteString(c, "hello\n")
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || got != "hello\n" {
		t.Fatalf("echo = %q, %v", got, err)
	}
	return c
}

// Cancelling the context closes the listener and the idle connections, and
// Serve returns nil once every connection has ended.
func TestConnServerDrainsIdleConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := newEchoOnce()
	closedAll := false
	cs := &platform.ConnServer{Handle: e.handle, CloseIdle: e.closeIdle, CloseAll: func() { closedAll = true },
		ShutdownTimeout: waitTimeout}
	cancel, done := serveConns(t, cs, ln)
	c := dialAndEcho(t, ln.Addr().String())
	<-e.ready
	cancel()
	if err := waitErr(t, done); err != nil {
		t.Fatalf("Serve = %v, want nil after a shutdown", err)
	}
	if closedAll {
		t.Error("CloseAll called although every connection was idle")
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("the idle connection is still open")
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("the listener still accepts after the shutdown")
	}
}

// A connection still busy when ShutdownTimeout has passed is closed by
// CloseAll, and Serve returns.
func TestConnServerClosesWhatOutlivesTheShutdownTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := newEchoOnce()
	var closeAll sync.Once
	closed := make(chan struct{})
	cs := &platform.ConnServer{Handle: e.handle, ShutdownTimeout: time.Millisecond,
		CloseAll: func() { closeAll.Do(func() { e.closeIdle(); close(closed) }) }}
	cancel, done := serveConns(t, cs, ln)
	dialAndEcho(t, ln.Addr().String())
	<-e.ready
	cancel()
	if err := waitErr(t, done); err != nil {
		t.Fatalf("Serve = %v, want nil", err)
	}
	select {
	case <-closed:
	default:
		t.Fatal("Serve returned without calling CloseAll on a connection that never ended")
	}
}

// flakyListener fails its first accepts, then hands out real connections.
type flakyListener struct {
	net.Listener
	mu    sync.Mutex
	fails []error
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.fails) > 0 {
		err := l.fails[0]
		l.fails = l.fails[1:]
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

// Running out of file descriptors passes: accepting goes on, as net/http's
// server does. Any other accept error stops Serve, which returns it.
func TestConnServerAcceptErrors(t *testing.T) {
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	t.Run("temporary", func(t *testing.T) {
		inner, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		e := newEchoOnce()
		ln := &flakyListener{Listener: inner, fails: []error{emfile, emfile}}
		cancel, done := serveConns(t, &platform.ConnServer{Handle: e.handle, CloseIdle: e.closeIdle, ShutdownTimeout: waitTimeout}, ln)
		dialAndEcho(t, inner.Addr().String())
		cancel()
		if err := waitErr(t, done); err != nil {
			t.Fatalf("Serve = %v, want nil", err)
		}
	})
	t.Run("fatal", func(t *testing.T) {
		inner, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		broken := errors.New("listener broke")
		ln := &flakyListener{Listener: inner, fails: []error{broken}}
		_, done := serveConns(t, &platform.ConnServer{Handle: func(net.Conn) {}, ShutdownTimeout: waitTimeout}, ln)
		if err := waitErr(t, done); !errors.Is(err, broken) {
			t.Fatalf("Serve = %v, want %v", err, broken)
		}
	})
}

// blockingServer serves until its context ends, or fails at once.
type blockingServer struct {
	fail    error
	started chan struct{}
	stopped chan struct{}
}

func (s *blockingServer) Serve(ctx context.Context, ln net.Listener) error {
	defer ln.Close()
	close(s.started)
	if s.fail != nil {
		return s.fail
	}
	<-ctx.Done()
	close(s.stopped)
	return nil
}

// An added server runs beside the HTTP listeners, is stopped by the same
// shutdown, and Run waits for it; one that fails stops the service, and
// Run names it in its error.
func TestServiceAddServer(t *testing.T) {
	newLn := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	t.Run("drains with the service", func(t *testing.T) {
		srv := &blockingServer{started: make(chan struct{}), stopped: make(chan struct{})}
		r := startService(t, testBase(t), nil, func(svc *platform.Service) { svc.AddServer("extra", newLn(), srv) })
		<-srv.started
		r.cancel()
		err := waitErr(t, r.done)
		r.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		select {
		case <-srv.stopped:
		default:
			t.Fatal("Run returned before the added server stopped")
		}
		if logs := r.logs.String(); strings.Contains(logs, `"traffic"`) {
			t.Errorf("with a nil handler the service opened a traffic listener:\n%s", logs)
		}
	})
	t.Run("failure stops the service", func(t *testing.T) {
		srv := &blockingServer{fail: errors.New("boom"), started: make(chan struct{})}
		svc := platform.New("test", testBase(t), io.Discard)
		svc.AddServer("extra", newLn(), srv)
		err := svc.Run(context.Background(), nil)
		if err == nil || err.Error() != "extra: boom" {
			t.Fatalf("Run = %v, want extra: boom", err)
		}
	})
}
