package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	o, err := ParseFlags("benchx", "per target", nil, io.Discard)
	if err != nil || o != (Options{Concurrency: 32, Duration: 3 * time.Second, Rounds: 3, Warmup: time.Second}) {
		t.Errorf("defaults %+v, %v", o, err)
	}
	for _, args := range [][]string{{"-c", "0"}, {"-d", "10ms"}, {"-rounds", "21"}, {"-warmup", "-1s"}, {"-nope"}} {
		if _, err := ParseFlags("benchx", "per target", args, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	var help strings.Builder
	ParseFlags("benchx", "per target and object", []string{"-h"}, &help)
	if !strings.Contains(help.String(), "measurements per target and object, interleaved") {
		t.Errorf("help does not say what a round is of:\n%s", help.String())
	}
}

func TestFindPeersNamesEveryMissingOne(t *testing.T) {
	none := func(string) (string, error) { return "", errors.New("not in PATH") }
	sbin := t.TempDir()
	_, err := FindPeers(none, sbin, "the lb", "apt-get install x y", "x", "y")
	if err == nil || err.Error() != "x and y not installed: the lb is compared against Debian's packages; apt-get install x y" {
		t.Fatalf("err = %v", err)
	}
	if err := os.WriteFile(filepath.Join(sbin, "x"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sbin, "y"), []byte("not executable"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err = FindPeers(none, sbin, "the lb", "hint", "x", "y"); err == nil || !strings.HasPrefix(err.Error(), "y not installed") {
		t.Fatalf("err = %v, want only y (not executable) named", err)
	}
	inPath := func(name string) (string, error) { return "/bin/" + name, nil }
	paths, err := FindPeers(inPath, sbin, "the lb", "hint", "y", "x")
	if err != nil || strings.Join(paths, " ") != "/bin/y /bin/x" {
		t.Fatalf("FindPeers = %v, %v; want PATH's, in the order asked", paths, err)
	}
}

// Interleave warms every job once, then rotates the order each round.
func TestInterleaveRotatesTheOrder(t *testing.T) {
	var order []string
	var announced []int
	o := Options{Rounds: 3, Duration: 2 * time.Second, Warmup: time.Second}
	got, err := Interleave(t.Context(), o, 3, func(r int) { announced = append(announced, r) },
		func(_ context.Context, job int, d time.Duration) (Measurement, error) {
			order = append(order, fmt.Sprintf("%d:%s", job, d))
			return Measurement{Requests: job*10 + len(order)}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	const want = "0:1s 1:1s 2:1s 0:2s 1:2s 2:2s 1:2s 2:2s 0:2s 2:2s 0:2s 1:2s"
	if strings.Join(order, " ") != want {
		t.Errorf("order %v, want %s", order, want)
	}
	if fmt.Sprint(announced) != "[0 1 2 3]" {
		t.Errorf("announced %v, want the warm-up and three rounds", announced)
	}
	// Job 1's measurements, in round order: calls 5, 7 and 12.
	if len(got) != 3 || got[1][0].Requests != 15 || got[1][1].Requests != 17 || got[1][2].Requests != 22 {
		t.Errorf("measurements %v", got)
	}

	boom := errors.New("boom")
	_, err = Interleave(t.Context(), Options{Rounds: 1, Duration: time.Second}, 2, func(int) {},
		func(context.Context, int, time.Duration) (Measurement, error) { return Measurement{}, boom })
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want the measurement's", err)
	}
}

func TestSummarize(t *testing.T) {
	s := Summarize("x", []Measurement{
		{Requests: 100, Elapsed: time.Second, P50: 3 * time.Millisecond, P99: 30 * time.Millisecond, Counted: 2, CPU: 10 * time.Millisecond},
		{Requests: 300, Elapsed: time.Second, P50: 1 * time.Millisecond, P99: 10 * time.Millisecond, Errors: 1, CPU: 30 * time.Millisecond},
		{Requests: 200, Elapsed: time.Second, P50: 2 * time.Millisecond, P99: 20 * time.Millisecond, Counted: 4, CPU: 20 * time.Millisecond},
	})
	if s.RPS != 200 || s.Requests != 600 || s.Errors != 1 || s.Counted != 6 {
		t.Errorf("rps %v requests %d errors %d counted %d, want 200 600 1 6", s.RPS, s.Requests, s.Errors, s.Counted)
	}
	if s.P50 != 2*time.Millisecond || s.P99 != 20*time.Millisecond {
		t.Errorf("p50 %v p99 %v, want the medians 2ms and 20ms", s.P50, s.P99)
	}
	if s.CPUPerReq != 100*time.Microsecond || fmt.Sprint(s.RoundRPS) != "[100 300 200]" {
		t.Errorf("CPU/req %v, rounds %v", s.CPUPerReq, s.RoundRPS)
	}
	// One round without its CPU time: the total is unknown.
	if s := Summarize("x", []Measurement{{Requests: 1, Elapsed: time.Second, CPU: time.Millisecond}, {Requests: 1, Elapsed: time.Second, CPU: -1}}); s.CPUPerReq != -1 {
		t.Errorf("CPU/req %v with a round unknown, want -1", s.CPUPerReq)
	}
}

// Measure drives the load generator against a real server and reads the
// counter around it; without a process group the CPU time is unknown.
func TestMeasure(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	m, err := Measure(t.Context(), Target{URL: srv.URL, Counter: func(context.Context) (int64, error) { return served.Load(), nil }}, 2, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if m.Requests == 0 || m.Errors != 0 || m.Counted != int64(m.Requests) || m.CPU != -1 || m.Elapsed <= 0 {
		t.Errorf("measurement %+v: want requests > 0, all counted by the server, CPU unknown", m)
	}
	failing := func(context.Context) (int64, error) { return 0, errors.New("no admin port") }
	if _, err := Measure(t.Context(), Target{URL: srv.URL, Counter: failing}, 1, 100*time.Millisecond); err == nil {
		t.Error("a counter that cannot be read did not fail the measurement")
	}
}

func TestFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Ratio(1, 4), "0.25x"}, {Ratio(9, 3), "3.00x"}, {Ratio(1, 0), "-"},
		{Ms(1500 * time.Microsecond), "1.50ms"},
		{Micros(2500 * time.Nanosecond), "2.5µs"}, {Micros(-1), "-"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestExitCodesAndMessages(t *testing.T) {
	c := Command{Name: "benchx", Stopped: "all stopped", TookNote: " (cleanup included)"}
	for _, tt := range []struct {
		err         error
		interrupted bool
		code        int
		stdout      string
		stderr      string
	}{
		{nil, false, 0, "\nbenchx took 1m5s in all (cleanup included)\n", ""},
		{errors.New("boom"), false, 1, "", "benchx: boom\n"},
		{context.Canceled, true, 130, "", "benchx: interrupted; all stopped\n"},
	} {
		var out, errOut strings.Builder
		if code := c.exit(tt.err, tt.interrupted, 65*time.Second, &out, &errOut); code != tt.code || out.String() != tt.stdout || errOut.String() != tt.stderr {
			t.Errorf("exit(%v, %v) = %d, %q, %q; want %d, %q, %q", tt.err, tt.interrupted, code, out.String(), errOut.String(), tt.code, tt.stdout, tt.stderr)
		}
	}
}
