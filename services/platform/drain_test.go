package platform_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"scalelab/services/platform"
)

// During DRAIN_DELAY the service still answers, but every answer says
// Connection: close and the connection ends after it, so a client's pooled
// connections are gone before Shutdown closes idle ones; the check a load
// balancer makes (UnlessDraining) answers 503.
func TestDrainClosesConnectionsAfterEachAnswer(t *testing.T) {
	base := testBase(t)
	base.DrainDelay = 3 * time.Second // the window the requests below use; the test waits for its start, not its length
	var handler http.Handler
	r := startService(t, base, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }),
		func(svc *platform.Service) {
			mux := http.NewServeMux()
			mux.Handle("GET /{$}", svc.UnlessDraining(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "hello")
			})))
			mux.HandleFunc("PUT /w", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "written") })
			handler = mux
		})
	addr := r.trafficURL[len("http://"):]

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	send := func(c net.Conn, br *bufio.Reader, method, path string) (*http.Response, string) {
		t.Helper()
		fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n", method, path)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	for _, req := range [][2]string{{"GET", "/"}, {"PUT", "/w"}} {
		if resp, body := send(conn, br, req[0], req[1]); resp.StatusCode != 200 || resp.Close {
			t.Fatalf("%s %s before the drain: %d close=%v %q, want 200 kept alive", req[0], req[1], resp.StatusCode, resp.Close, body)
		}
	}

	r.cancel()
	r.waitLog(t, "draining")
	resp, body := send(conn, br, "PUT", "/w")
	if resp.StatusCode != 200 || body != "written" || !resp.Close {
		t.Errorf("PUT on a kept-alive connection while draining: %d close=%v %q, want 200 written with Connection: close",
			resp.StatusCode, resp.Close, body)
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after that answer: %q %v, want the server's end of the connection (EOF)", rest, err)
	}

	check, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("a new connection while draining: %v, want it accepted until DRAIN_DELAY ends", err)
	}
	defer check.Close()
	resp, body = send(check, bufio.NewReader(check), "GET", "/")
	if resp.StatusCode != http.StatusServiceUnavailable || !resp.Close || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("GET / (the balancer's check) while draining: %d close=%v %q, want a 503 problem with Connection: close", resp.StatusCode, resp.Close, body)
	}
}
