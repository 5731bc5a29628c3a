// Package platformtest starts a whole service in-process, the way main does,
// for tests: run with a test environment, wait for /readyz, stop on cleanup.
package platformtest

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"scalelab/services/platform"
)

// FreeAddr returns a loopback address with a port that was free a moment ago
// and that no earlier call of this process returned: the kernel may hand
// the same free port to two binds in a row, and a service given it as both
// LISTEN_ADDR and ADMIN_ADDR cannot start.
func FreeAddr(t testing.TB) string {
	t.Helper()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if _, taken := handedOut.LoadOrStore(addr, true); !taken {
			return addr
		}
	}
	t.Fatalf("free port: 100 tries gave only ports already handed out")
	return ""
}

// handedOut holds every address FreeAddr returned in this process.
var handedOut sync.Map

// Running is a service started by Start.
type Running struct {
	URL      string // traffic, e.g. http://127.0.0.1:41234
	AdminURL string
	Stop     func() error // cancels the context and returns run's error
	logs     *LogBuffer
	done     chan struct{} // closed when run has returned
}

// Logs returns what the service wrote to stdout and stderr so far.
func (r *Running) Logs() string { return r.logs.String() }

// Start calls run with env (LISTEN_ADDR and ADMIN_ADDR are filled in with
// free ports unless set) and waits until /readyz answers 200.
func Start(t testing.TB, run platform.RunFunc, env map[string]string) *Running {
	t.Helper()
	vars := map[string]string{"LOG_LEVEL": "warn"}
	for k, v := range env {
		vars[k] = v
	}
	if vars["LISTEN_ADDR"] == "" {
		vars["LISTEN_ADDR"] = FreeAddr(t)
	}
	if vars["ADMIN_ADDR"] == "" {
		vars["ADMIN_ADDR"] = FreeAddr(t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &LogBuffer{}
	done := make(chan error, 1)
	r := &Running{URL: "http://" + vars["LISTEN_ADDR"], AdminURL: "http://" + vars["ADMIN_ADDR"], logs: logs,
		done: make(chan struct{})}
	go func() {
		err := run(ctx, []string{"service"}, func(k string) string { return vars[k] }, logs, logs)
		close(r.done)
		done <- err
	}()
	var once sync.Once
	var stopErr error
	r.Stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(30 * time.Second):
				t.Errorf("service did not stop within 30s")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := r.Stop(); err != nil {
			t.Errorf("service stopped with error: %v", err)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			once.Do(cancel) // run has returned: Stop must not wait for it again
			t.Fatalf("service exited before ready: %v\n%s", err, logs.String())
		default:
		}
		resp, err := http.Get(r.AdminURL + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("not ready after 30s: %s\n%s", body, logs.String())
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("not ready after 30s: %v\n%s", err, logs.String())
		}
		// Readiness may wait on other processes (the api's PostgreSQL and
		// Redis containers), and a service at LOG_LEVEL=warn logs nothing
		// to wait on: this one wait polls, bounded by the 30 s above.
		time.Sleep(20 * time.Millisecond)
	}
}

// Await returns once cond holds, checking it now and again after each
// line the service logs: the service's own log is the signal that
// something happened in it, so no test sleeps to find out. cond must
// follow from an event the service logs at the test's LOG_LEVEL (at debug,
// the lb logs every retry and ejection; at info every service writes an
// access line after counting a request). It fails the test if the service
// stops, or if 30s pass without cond holding (a bound, not a measure).
func (r *Running) Await(t testing.TB, what string, cond func() bool) {
	t.Helper()
	r.logs.Await(t, what, cond, r.done, 30*time.Second)
}

// LogBuffer is a service's log that tells its readers when a line
// arrives: tests wait on the lines a service writes instead of sleeping.
type LogBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{} // closed and replaced by the next Write
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.written != nil {
		close(b.written)
		b.written = nil
	}
	return b.buf.Write(p)
}

// Next returns a channel the next Write closes.
func (b *LogBuffer) Next() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.written == nil {
		b.written = make(chan struct{})
	}
	return b.written
}

// Await returns once cond holds, checking it now and again after each line
// written. It fails the test if stopped closes first (nil: never), or if
// within passes (a bound that turns a hang into a failure, not a measure).
func (b *LogBuffer) Await(t testing.TB, what string, cond func() bool, stopped <-chan struct{}, within time.Duration) {
	t.Helper()
	timeout := time.After(within)
	for {
		written := b.Next()
		if cond() {
			return
		}
		select {
		case <-written:
		case <-stopped:
			if cond() {
				return
			}
			t.Fatalf("%s: the service stopped first\n%s", what, b.String())
		case <-timeout:
			t.Fatalf("%s: not after %v of the log's lines\n%s", what, within, b.String())
		}
	}
}

// String returns everything logged so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
