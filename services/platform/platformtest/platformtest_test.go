package platformtest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"scalelab/services/platform"
	"scalelab/services/platform/platformtest"
)

func TestFreeAddr(t *testing.T) {
	for range 5 {
		addr := platformtest.FreeAddr(t)
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host != "127.0.0.1" || port == "0" {
			t.Fatalf("FreeAddr = %q, want 127.0.0.1:<port>", addr)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("cannot listen on FreeAddr %s: %v", addr, err)
		}
		ln.Close()
	}
}

// demo serves "hi", logs one line to stdout and one to stderr, and reports
// the environment it saw.
func demo(seen chan<- map[string]string) platform.RunFunc {
	return func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
		env := platform.NewEnv(getenv)
		base := platform.LoadBase(env, ":8080")
		if err := env.Err(); err != nil {
			return err
		}
		seen <- map[string]string{"LOG_LEVEL": getenv("LOG_LEVEL"), "EXTRA": getenv("EXTRA")}
		fmt.Fprintln(stderr, "to stderr")
		svc := platform.New("demo", base, stdout)
		return svc.Run(ctx, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "hi")
		}))
	}
}

func TestStart(t *testing.T) {
	seen := make(chan map[string]string, 1)
	r := platformtest.Start(t, demo(seen), map[string]string{"EXTRA": "x", "LOG_LEVEL": "info"})

	if env := <-seen; env["LOG_LEVEL"] != "info" || env["EXTRA"] != "x" {
		t.Errorf("run saw %v, want the given env to override the defaults", env)
	}
	resp, err := http.Get(r.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hi" {
		t.Errorf("GET / = %q, want hi", body)
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	if err := r.Stop(); err != nil {
		t.Fatalf("second Stop = %v", err)
	}
	logs := r.Logs()
	for _, want := range []string{"to stderr", `"msg":"listening"`, `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("Logs() lacks %q:\n%s", want, logs)
		}
	}
	if _, err := http.Get(r.URL + "/"); err == nil {
		t.Error("service still answers after Stop")
	}
}

// recordingTB stands in for *testing.T so Start's failures can be observed.
type recordingTB struct {
	testing.TB
	mu       sync.Mutex
	fatals   []string
	errs     []string
	cleanups []func()
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.fatals = append(r.fatals, fmt.Sprintf(format, args...))
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recordingTB) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

func (r *recordingTB) runCleanups() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestStartServiceExitsBeforeReady(t *testing.T) {
	tb := &recordingTB{TB: t}
	failing := func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
		return errors.New("boom: bad config")
	}
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		platformtest.Start(tb, failing, nil)
	}()
	select {
	case <-returned:
	case <-time.After(20 * time.Second):
		t.Fatal("Start did not give up on a service that exited")
	}
	if len(tb.fatals) != 1 || !strings.Contains(tb.fatals[0], "boom: bad config") {
		t.Fatalf("Start fatals = %q, want one naming run's error", tb.fatals)
	}

	// The cleanup must not wait for a run that already returned: it would
	// time out and report a second, misleading failure.
	cleaned := make(chan struct{})
	go func() {
		defer close(cleaned)
		tb.runCleanups()
	}()
	select {
	case <-cleaned:
	case <-time.After(40 * time.Second):
		t.Fatal("cleanup did not return")
	}
	if len(tb.errs) != 0 {
		t.Errorf("cleanup reported %q after the fatal, want nothing more", tb.errs)
	}
}
