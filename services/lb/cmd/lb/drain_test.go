package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"scalelab/services/platform"
	"scalelab/services/platform/platformtest"
)

// drainingBackend runs a service that drains the way the api does: its
// GET / (the lb's health check) answers 503 once the drain begins, and
// the platform closes each connection after its answer from then on. It
// answers PUT /w, a write the lb may not retry, with its name.
func drainingBackend(t *testing.T, name string) *platformtest.Running {
	run := func(ctx context.Context, _ []string, getenv func(string) string, stdout, _ io.Writer) error {
		env := platform.NewEnv(getenv)
		base := platform.LoadBase(env, ":0")
		if err := env.Err(); err != nil {
			return err
		}
		svc := platform.New(name, base, stdout)
		mux := http.NewServeMux()
		mux.Handle("GET /{$}", svc.UnlessDraining(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hello from "+name)
		})))
		mux.HandleFunc("PUT /w", func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("X-Served-By", name)
			io.WriteString(w, "written by "+name)
		})
		return svc.Run(ctx, mux)
	}
	// DRAIN_DELAY is the window in which the lb's checks, 50 ms apart,
	// see the 503; it is far longer than they need.
	return platformtest.Start(t, run, map[string]string{"DRAIN_DELAY": "2s", "SHUTDOWN_TIMEOUT": "5s"})
}

// writeLoad sends PUTs through the lb from a few kept-alive clients until
// stopped, counting answers by backend and every failure.
type writeLoad struct {
	served   sync.Map // backend name -> *atomic.Int64
	total    atomic.Int64
	mu       sync.Mutex
	failures []string
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startWrites(url string, clients int) *writeLoad {
	l := &writeLoad{stop: make(chan struct{})}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: 30 * time.Second}
	for i := range clients {
		l.wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-l.stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodPut, url+"/w", strings.NewReader(fmt.Sprintf(`{"client":%d,"n":%d}`, i, n)))
				resp, err := client.Do(req)
				l.total.Add(1)
				if err != nil {
					l.fail(err.Error())
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					l.fail(fmt.Sprintf("%d %s", resp.StatusCode, body))
					continue
				}
				c, _ := l.served.LoadOrStore(resp.Header.Get("X-Served-By"), new(atomic.Int64))
				c.(*atomic.Int64).Add(1)
			}
		})
	}
	return l
}

func (l *writeLoad) fail(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, msg)
}

func (l *writeLoad) servedBy(name string) int64 {
	c, ok := l.served.Load(name)
	if !ok {
		return 0
	}
	return c.(*atomic.Int64).Load()
}

// awaitServed waits until name has served more than n writes, or fails.
func (l *writeLoad) awaitServed(t *testing.T, name string, n int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for l.servedBy(name) <= n {
		if time.Now().After(deadline) {
			t.Fatalf("%s served %d writes, not more than %d within 20s", name, l.servedBy(name), n)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

// A backend shut down under a write load costs no write: during its drain
// it still answers, closing each connection after the answer, and its
// health check fails, so the lb stops sending to it before its listener
// and idle connections close. Writes cannot be retried; before the drain
// did this, the lb wrote some of them onto connections the backend was
// closing, or dialled its closed port, and answered 502.
func TestWritesSurviveBackendShutdown(t *testing.T) {
	b0, b1 := drainingBackend(t, "b0"), drainingBackend(t, "b1")
	lb, _ := startFast(t, map[string]string{
		"LB_BACKENDS":        b0.URL + "," + b1.URL,
		"LB_HEALTH_INTERVAL": "50ms",
		"LB_HEALTH_FALL":     "1",
		"LOG_LEVEL":          "info",
	})
	load := startWrites(lb.URL, 8)
	// Both backends hold kept-alive connections from the lb before b0 stops.
	load.awaitServed(t, "b0", 200)
	load.awaitServed(t, "b1", 200)

	if err := b0.Stop(); err != nil {
		t.Fatalf("b0 stopped with %v", err)
	}
	// b0 is gone; the lb goes on with b1 alone.
	load.awaitServed(t, "b1", load.servedBy("b1")+200)
	close(load.stop)
	load.wg.Wait()

	if len(load.failures) > 0 {
		t.Errorf("%d of %d writes failed across b0's shutdown, want 0; the first: %s",
			len(load.failures), load.total.Load(), load.failures[0])
	}
	t.Logf("%d writes: b0 %d, b1 %d", load.total.Load(), load.servedBy("b0"), load.servedBy("b1"))
}
