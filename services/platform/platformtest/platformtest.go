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

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Running is a service started by Start.
type Running struct {
	URL      string // traffic, e.g. http://127.0.0.1:41234
	AdminURL string
	Stop     func() error // cancels the context and returns run's error
	logs     *syncBuffer
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
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"service"}, func(k string) string { return vars[k] }, logs, logs)
	}()
	r := &Running{URL: "http://" + vars["LISTEN_ADDR"], AdminURL: "http://" + vars["ADMIN_ADDR"], logs: logs}
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
		time.Sleep(20 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
