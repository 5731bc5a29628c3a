package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"scalelab/services/platform/platformtest"
)

// The whole lb with LB_ENGINE=fast: the fast path serves LISTEN_ADDR with
// the same policy, health, metrics and headers as the std engine, and hands
// what it does not speak to the std engine.

func startFast(t *testing.T, env map[string]string) (*platformtest.Running, string) {
	t.Helper()
	env["LB_ENGINE"] = "fast"
	lb := startLB(t, env)
	return lb, strings.TrimPrefix(lb.URL, "http://")
}

func TestFastEngineRoundRobinAndHeaders(t *testing.T) {
	var urls []string
	for _, name := range []string{"b0", "b1"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Served-By", name)
			json.NewEncoder(w).Encode(map[string]string{
				"xff": r.Header.Get("X-Forwarded-For"), "id": r.Header.Get("X-Request-Id"), "via": r.Header.Get("Via"),
			})
		}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	lb, _ := startFast(t, map[string]string{"LB_BACKENDS": strings.Join(urls, ","), "LB_HEALTH_PATH": "off"})
	for i := range 6 {
		resp, body := get(t, lb.URL+"/x", http.Header{"X-Forwarded-For": {"6.6.6.6"}})
		var seen map[string]string
		if err := json.Unmarshal([]byte(body), &seen); err != nil {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		if got, want := resp.Header.Get("X-Served-By"), fmt.Sprintf("b%d", i%2); got != want {
			t.Errorf("request %d served by %q, want %q", i, got, want)
		}
		if seen["xff"] != "127.0.0.1" || seen["via"] != "1.1 scalelab-lb" || seen["id"] == "" ||
			seen["id"] != resp.Header.Get("X-Request-Id") || resp.Header.Get("X-Backend") == "" {
			t.Errorf("request %d: backend saw %v, client got id %q backend %q", i, seen,
				resp.Header.Get("X-Request-Id"), resp.Header.Get("X-Backend"))
		}
	}
	// The platform's request metrics count what the fast path served.
	waitForMetric(t, lb, `scalelab_lb_http_requests_total{code="2xx",method="GET",route="/"} 6`)
}

func TestFastEngineClientGoneIs499(t *testing.T) {
	arrived := make(chan struct{}, 1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(backend.Close)
	lb, addr := startFast(t, map[string]string{"LB_BACKENDS": backend.URL, "LB_HEALTH_PATH": "off"})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /hang HTTP/1.1\r\nHost: lb\r\n\r\n")
	<-arrived
	conn.Close()
	backendAddr := strings.TrimPrefix(backend.URL, "http://")
	waitForMetric(t, lb, `scalelab_lb_backend_requests_total{backend="`+backendAddr+`",code="499"} 1`)
	waitForMetric(t, lb, `scalelab_lb_http_requests_total{code="499",method="GET",route="/"} 1`)
}

// A WebSocket upgrade is handed to the std engine, which passes it through.
func TestFastEngineHandsUpgradeToStd(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		line, _ := rw.ReadString('\n')
		rw.WriteString(strings.ToUpper(line))
		rw.Flush()
	}))
	t.Cleanup(backend.Close)
	_, addr := startFast(t, map[string]string{"LB_BACKENDS": backend.URL, "LB_HEALTH_PATH": "off"})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: lb\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v, want 101", resp, err)
	}
	io.WriteString(conn, "hello\n")
	if got, err := br.ReadString('\n'); err != nil || got != "HELLO\n" {
		t.Errorf("echo %q %v", got, err)
	}
}

func TestFastEngineRefusesSmuggling(t *testing.T) {
	backend := namedBackend(t, "b")
	_, addr := startFast(t, map[string]string{"LB_BACKENDS": backend.URL, "LB_HEALTH_PATH": "off"})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: lb\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("%v %v, want 400", resp, err)
	}
}

func TestEngineConfigError(t *testing.T) {
	env := map[string]string{"LB_BACKENDS": "http://a:1", "LB_ENGINE": "turbo", "LISTEN_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0"}
	err := run(t.Context(), []string{"lb"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "LB_ENGINE") {
		t.Fatalf("run() = %v, want an error naming LB_ENGINE", err)
	}
}

// Without LB_ENGINE the fast path serves: it refuses a request with both
// Content-Length and Transfer-Encoding, which the std engine would forward
// as chunked (see docs/lb.md).
func TestFastEngineIsTheDefault(t *testing.T) {
	backend := namedBackend(t, "b")
	lb := startLB(t, map[string]string{"LB_BACKENDS": backend.URL, "LB_HEALTH_PATH": "off"})
	conn, err := net.Dial("tcp", strings.TrimPrefix(lb.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: lb\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("%v %v, want the fast path's 400", resp, err)
	}
}
