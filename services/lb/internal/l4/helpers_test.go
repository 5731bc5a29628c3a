package l4

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/platform/platformtest"
)

// backend is a TCP server on loopback whose connections are served by fn.
type backend struct {
	*balancer.Backend
	accepts atomic.Int64
}

func startBackend(t testing.TB, fn func(net.Conn)) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	b := &backend{Backend: balancer.NewBackend(&url.URL{Scheme: "http", Host: ln.Addr().String()})}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.accepts.Add(1)
			go func() {
				defer c.Close()
				fn(c)
			}()
		}
	}()
	return b
}

// echo copies back what it reads and half-closes after the client did.
func echo(c net.Conn) {
	io.Copy(c, c)
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c)
}

// named greets each connection with its name and a newline, then echoes.
func named(name string) func(net.Conn) {
	return func(c net.Conn) {
		io.WriteString(c, name+"\n")
		echo(c)
	}
}

// deadAddr returns a loopback address where nothing listens.
func deadBackend(t testing.TB) *balancer.Backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return balancer.NewBackend(&url.URL{Scheme: "http", Host: addr})
}

func backendList(bs ...any) []*balancer.Backend {
	var out []*balancer.Backend
	for _, b := range bs {
		switch b := b.(type) {
		case *backend:
			out = append(out, b.Backend)
		case *balancer.Backend:
			out = append(out, b)
		default:
			panic(fmt.Sprintf("backendList: %T", b))
		}
	}
	return out
}

// running is a Server serving on loopback.
type running struct {
	*Server
	addr string
	reg  *prometheus.Registry
	stop context.CancelFunc
	done chan error
	logs *platformtest.LogBuffer // the server's log at debug (nothing for a benchmark)
}

// start serves cfg on a loopback port; a zero ShutdownTimeout becomes 5s
// and Policy defaults to round robin. With stamped given, it selects the
// portable copy (true) or splice (false). The server is stopped on cleanup.
func start(t testing.TB, cfg Config, stamped ...bool) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Metrics = NewMetrics(reg)
	if cfg.Policy == nil {
		cfg.Policy = &RoundRobin{}
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = time.Second
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 5 * time.Second
	}
	// The tests wait on the server's debug lines (see await).
	logs := &platformtest.LogBuffer{}
	if _, bench := t.(*testing.B); !bench && cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Server: New(cfg), addr: ln.Addr().String(), reg: reg, stop: cancel, done: make(chan error, 1), logs: logs}
	if len(stamped) > 0 {
		r.stamped = stamped[0]
	}
	go func() { r.done <- r.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
			r.done <- err // for anyone else waiting
		case <-time.After(30 * time.Second):
			t.Errorf("Serve did not return within 30s of cancel")
		}
	})
	return r
}

func (r *running) dial(t testing.TB) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// greeting reads the first line a named backend sends.
func greeting(t testing.TB, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	line, err := bufio.NewReader(io.LimitReader(c, 64)).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the backend's name: got %q, %v", line, err)
	}
	return strings.TrimSuffix(line, "\n")
}

// metric returns the value of the series name{labels} on reg, 0 when absent.
func (r *running) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// await returns once cond holds, checking it again after each line the
// server logs: it logs every connection it ends at debug, once the
// connection is counted and released, and that it stopped accepting. The
// bound only turns a hang into a failure.
func (r *running) await(t testing.TB, what string, cond func() bool) {
	t.Helper()
	r.logs.Await(t, what, cond, nil, 10*time.Second)
}

// waitMetric waits until name{labels} equals want (connections are counted
// when the server has closed both sides, a moment after the client sees
// EOF).
func (r *running) waitMetric(t testing.TB, want float64, name string, labels ...string) {
	t.Helper()
	r.await(t, fmt.Sprintf("%s%v = %v", name, labels, want), func() bool { return r.metric(t, name, labels...) == want })
}

// readEOF reads until EOF (or an error) and returns what came.
func readAll(t testing.TB, c net.Conn) ([]byte, error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	return io.ReadAll(c)
}

// modes runs a test with the splice copy (TCP_INFO idle tracking) where
// the platform has it, and with the portable copy.
func modes(t *testing.T, fn func(t *testing.T, stamped bool)) {
	if tcpInfoSupported {
		t.Run("splice", func(t *testing.T) { fn(t, false) })
	}
	t.Run("portable", func(t *testing.T) { fn(t, true) })
}
