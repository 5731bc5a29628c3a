package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// echoBackend answers with the length of the body it read, and counts
// the requests that reached it.
func echoBackend(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var seen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			return
		}
		fmt.Fprintf(w, "read %d bytes", n)
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func post(t *testing.T, url string, body io.Reader, length int64) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length // -1: chunked
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// onlyReader hides any other method of its reader (such as WriteTo or Len),
// so the client cannot learn the length and sends the body chunked.
type onlyReader struct{ io.Reader }

func TestBodySizeLimit(t *testing.T) {
	backend, seen := echoBackend(t)
	other, otherSeen := echoBackend(t) // two, so that one may be ejected
	lb := startLB(t, map[string]string{
		"LB_BACKENDS":       backend.URL + "," + other.URL,
		"LB_MAX_BODY_BYTES": "1KiB",
		"LB_HEALTH_PATH":    "off",
		"LB_EJECT_AFTER":    "1",
		"LB_EJECT_TIME":     "1h",
		"LB_EJECT_MAX_TIME": "1h",
	})
	const limitMsg = "413 Content Too Large: the request body is over LB_MAX_BODY_BYTES (1024 bytes)"

	// Within the limit, declared or chunked: forwarded whole.
	if code, body := post(t, lb.URL+"/", strings.NewReader(strings.Repeat("x", 1024)), 1024); code != 200 || body != "read 1024 bytes" {
		t.Errorf("1024 bytes with Content-Length: %d %q, want 200 read 1024 bytes", code, body)
	}
	if code, body := post(t, lb.URL+"/", onlyReader{strings.NewReader(strings.Repeat("x", 1024))}, -1); code != 200 || body != "read 1024 bytes" {
		t.Errorf("1024 bytes chunked: %d %q, want 200 read 1024 bytes", code, body)
	}

	// A declared length over the limit: refused before the backend sees it.
	before := seen.Load() + otherSeen.Load()
	if code, body := post(t, lb.URL+"/", strings.NewReader(strings.Repeat("x", 1025)), 1025); code != http.StatusRequestEntityTooLarge || !strings.HasPrefix(body, limitMsg) {
		t.Errorf("1025 bytes with Content-Length: %d %q, want 413 %q", code, body, limitMsg)
	}
	if n := seen.Load() + otherSeen.Load() - before; n != 0 {
		t.Errorf("the backend saw %d requests with a declared body over the limit, want 0", n)
	}

	// A chunked body over the limit: cut off when it gets there.
	if code, body := post(t, lb.URL+"/", onlyReader{strings.NewReader(strings.Repeat("x", 64<<10))}, -1); code != http.StatusRequestEntityTooLarge || !strings.HasPrefix(body, limitMsg) {
		t.Errorf("64 KiB chunked: %d %q, want 413 %q", code, body, limitMsg)
	}
	// The client's fault is not the backend's: with LB_EJECT_AFTER=1 one
	// failure held against it would have ejected it, and the try is
	// counted as a 4xx, not as a backend's 5xx.
	m := metricsText(t, lb.AdminURL)
	if !strings.Contains(m, `scalelab_lb_backends{state="ejected"} 0`) {
		t.Errorf("a backend was ejected for a client's body over the limit")
	}
	if strings.Contains(m, `code="5xx"} 1`) || !strings.Contains(m, `code="4xx"} 1`) {
		t.Errorf("the chunked body over the limit must count as one 4xx try, no 5xx:\n%s", m)
	}
	if code, body := post(t, lb.URL+"/", strings.NewReader("small"), 5); code != 200 || body != "read 5 bytes" {
		t.Errorf("after the refusals: %d %q, want 200", code, body)
	}
}

func TestBodySizeUnlimited(t *testing.T) {
	backend, _ := echoBackend(t)
	lb := startLB(t, map[string]string{"LB_BACKENDS": backend.URL, "LB_MAX_BODY_BYTES": "0"})
	const size = 11 << 20 // over the 10 MiB default
	if code, body := post(t, lb.URL+"/", strings.NewReader(strings.Repeat("x", size)), size); code != 200 || body != fmt.Sprintf("read %d bytes", size) {
		t.Errorf("11 MiB with LB_MAX_BODY_BYTES=0: %d %q, want 200", code, body)
	}
}

// A client that sends its headers and then trickles (here: stops sending)
// its body gets 408 after LB_CLIENT_BODY_TIMEOUT, its connection is
// closed, and the backend is not blamed.
func TestSlowBodyCutOff(t *testing.T) {
	backend, _ := echoBackend(t)
	lb := startLB(t, map[string]string{
		"LB_BACKENDS":            backend.URL,
		"LB_CLIENT_BODY_TIMEOUT": "300ms",
		"LB_TRY_TIMEOUT":         "1m", // the body timeout, not the try's, must act
		"LB_REQUEST_TIMEOUT":     "1m",
		"LB_HEALTH_PATH":         "off",
		"LB_EJECT_AFTER":         "1",
	})
	lbAddr := strings.TrimPrefix(lb.URL, "http://")
	for i := range 2 {
		conn, err := net.Dial("tcp", lbAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		fmt.Fprintf(conn, "POST /upload HTTP/1.1\r\nHost: lab\r\nContent-Length: 100\r\n\r\nonly ten b")
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v (want a 408 before the 20 s deadline)", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "LB_CLIENT_BODY_TIMEOUT") {
			t.Errorf("request %d: %d %q, want 408 naming LB_CLIENT_BODY_TIMEOUT", i, resp.StatusCode, body)
		}
		if _, err := br.ReadByte(); !errors.Is(err, io.EOF) && !isReset(err) {
			t.Errorf("request %d: after the 408 the connection gave %v, want it closed", i, err)
		}
	}
	waitForMetric(t, lb, `scalelab_lb_backend_ejections_total{backend="`+strings.TrimPrefix(backend.URL, "http://")+`"} 0`)
	// A body that arrives in time, slowly, is fine.
	pr, pw := io.Pipe()
	go func() {
		for range 3 {
			pw.Write([]byte("abc"))
			time.Sleep(20 * time.Millisecond) // the slow client under test, well within the body timeout
		}
		pw.Close()
	}()
	if code, body := post(t, lb.URL+"/", pr, 9); code != 200 || body != "read 9 bytes" {
		t.Errorf("a body in time: %d %q, want 200 read 9 bytes", code, body)
	}
	// And after the body, waiting for a slow answer is not the client's
	// time: the deadline is lifted once the body is in.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		time.Sleep(600 * time.Millisecond) // twice the body timeout
		io.WriteString(w, "slow but fine")
	}))
	t.Cleanup(slow.Close)
	lb2 := startLB(t, map[string]string{"LB_BACKENDS": slow.URL, "LB_CLIENT_BODY_TIMEOUT": "300ms"})
	if code, body := post(t, lb2.URL+"/", strings.NewReader("body"), 4); code != 200 || body != "slow but fine" {
		t.Errorf("slow answer after a quick body: %d %q, want 200", code, body)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// A request whose head never ends is closed within the platform's
// ReadHeaderTimeout (5 s): a half-sent request does not hold a connection.
func TestHalfSentHeadClosed(t *testing.T) {
	backend, seen := echoBackend(t)
	lb := startLB(t, map[string]string{"LB_BACKENDS": backend.URL, "LB_HEALTH_PATH": "off"})
	conn, err := net.Dial("tcp", strings.TrimPrefix(lb.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: lab\r\nX-Never: ends")
	_, err = io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after 30 s, want it closed within the 5 s header timeout")
	}
	if seen.Load() != 0 {
		t.Errorf("the backend saw the half-sent request")
	}
}

// LB_MAX_REQUESTS_PER_BACKEND: a full backend sheds requests to another;
// with every backend full, a fast 503 instead of a queue.
func TestConcurrencyLimitPerBackend(t *testing.T) {
	release := make(chan struct{})
	defer close(release) // before the cleanups stop the lbs, which wait for requests in flight
	held := make(chan struct{}, 10)
	hold := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Served-By", "hold")
		if r.URL.Path == "/hold" {
			held <- struct{}{}
			<-release
		}
		io.WriteString(w, "hold")
	}))
	t.Cleanup(hold.Close)
	free := namedBackend(t, "free")

	// One backend, limit 1: the second request is refused at once, while
	// the first still holds the slot.
	lb := startLB(t, map[string]string{"LB_BACKENDS": hold.URL, "LB_MAX_REQUESTS_PER_BACKEND": "1", "LB_HEALTH_PATH": "off"})
	go http.Get(lb.URL + "/hold")
	<-held
	resp, body := get(t, lb.URL+"/", nil)
	want := "503 Service Unavailable: backend " + strings.TrimPrefix(hold.URL, "http://") + " at its concurrency limit (LB_MAX_REQUESTS_PER_BACKEND=1)"
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(body, want) {
		t.Errorf("with the only backend full: %d %q, want %q", resp.StatusCode, body, want)
	}
	waitForMetric(t, lb, "scalelab_lb_concurrency_limited_total 1")
	// Refusing is not the backend's fault.
	waitForMetric(t, lb, `scalelab_lb_backend_state{backend="`+strings.TrimPrefix(hold.URL, "http://")+`",state="available"} 1`)

	// Two backends, limit 1, round robin: with hold full, every request
	// goes to free, none refused.
	lb2 := startLB(t, map[string]string{
		"LB_BACKENDS": hold.URL + "," + free.URL, "LB_MAX_REQUESTS_PER_BACKEND": "1", "LB_HEALTH_PATH": "off",
	})
	go func() {
		for { // round robin may give /hold to free first; ask until hold has it
			resp, err := http.Get(lb2.URL + "/hold")
			if err != nil {
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) == "hold" {
				return
			}
		}
	}()
	<-held
	for i := range 6 {
		if resp, body := get(t, lb2.URL+"/", nil); resp.StatusCode != http.StatusOK || body != "free" {
			t.Fatalf("request %d with hold full: %d %q, want free to serve", i, resp.StatusCode, body)
		}
	}
	waitForMetric(t, lb2, "scalelab_lb_concurrency_limited_total 0")
}
