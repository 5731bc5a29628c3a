package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"scalelab/services/platform/platformtest"
)

// With L4_LISTEN_ADDR set, the lb also balances TCP connections over the
// same LB_BACKENDS, in turn, next to the HTTP listener.
func TestL4Mode(t *testing.T) {
	b0, b1 := namedBackend(t, "b0"), namedBackend(t, "b1")
	l4Addr := platformtest.FreeAddr(t)
	lb := startLB(t, map[string]string{
		"LB_BACKENDS":    b0.URL + "," + b1.URL,
		"L4_LISTEN_ADDR": l4Addr,
	})
	for i := range 4 {
		c, err := net.Dial("tcp", l4Addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET /through-l4 HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		c.Close()
		want := []string{"b0", "b1"}[i%2]
		if got := resp.Header.Get("X-Served-By"); got != want || string(body) != want {
			t.Fatalf("connection %d served by %q (body %q), want %s", i, got, body, want)
		}
		// L4 does not look at HTTP: no X-Backend header is added.
		if got := resp.Header.Get("X-Backend"); got != "" {
			t.Fatalf("connection %d: X-Backend %q added by an L4 path", i, got)
		}
	}
	// The HTTP listener still works alongside.
	if resp, body := get(t, lb.URL+"/", nil); resp.StatusCode != http.StatusOK || (body != "b0" && body != "b1") {
		t.Fatalf("HTTP alongside L4: %d %q", resp.StatusCode, body)
	}
	for _, b := range []string{b0.URL, b1.URL} {
		addr := strings.TrimPrefix(b, "http://")
		waitForMetric(t, lb, `scalelab_lb_l4_connections_total{backend="`+addr+`",result="closed"} 2`)
	}
	if err := lb.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := net.Dial("tcp", l4Addr); err == nil {
		t.Fatal("L4 listener still accepts after the lb stopped")
	}
}

// Without L4_LISTEN_ADDR there is no TCP listener and no L4 metric.
func TestL4OffByDefault(t *testing.T) {
	b0 := namedBackend(t, "b0")
	lb := startLB(t, map[string]string{"LB_BACKENDS": b0.URL})
	resp, err := http.Get(lb.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "scalelab_lb_l4_") {
		t.Fatal("L4 metrics registered with L4 mode off")
	}
}

func TestL4ConfigErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"not an address", map[string]string{"L4_LISTEN_ADDR": "8001"}, "L4_LISTEN_ADDR"},
		{"address in use", map[string]string{"L4_LISTEN_ADDR": busy.Addr().String()}, "L4_LISTEN_ADDR"},
		{"unknown policy", map[string]string{"L4_POLICY": "fastest"}, "L4_POLICY"},
		{"bad idle timeout", map[string]string{"L4_IDLE_TIMEOUT": "-1s"}, "L4_IDLE_TIMEOUT"},
		{"bad PROXY protocol", map[string]string{"L4_PROXY_PROTOCOL": "yes"}, "L4_PROXY_PROTOCOL"},
		{"bad dial attempts", map[string]string{"L4_DIAL_ATTEMPTS": "many"}, "L4_DIAL_ATTEMPTS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["LB_BACKENDS"] = "http://127.0.0.1:1"
			tt.env["LISTEN_ADDR"], tt.env["ADMIN_ADDR"] = platformtest.FreeAddr(t), platformtest.FreeAddr(t)
			tt.env["LOG_LEVEL"] = "error"
			err := run(t.Context(), []string{"lb"}, func(k string) string { return tt.env[k] }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run() = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

// L4 uses the same health as L7: a backend failing its active checks gets
// no new connections, though it still accepts them.
func TestL4FollowsHealthChecks(t *testing.T) {
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ping" {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("X-Served-By", "sick")
		io.WriteString(w, "sick")
	}))
	t.Cleanup(sick.Close)
	well := namedBackend(t, "well")
	l4Addr := platformtest.FreeAddr(t)
	lb := startLB(t, map[string]string{
		"LB_BACKENDS":        well.URL + "," + sick.URL,
		"LB_HEALTH_PATH":     "/ping",
		"LB_HEALTH_INTERVAL": "20ms",
		"LB_HEALTH_FALL":     "1",
		"L4_LISTEN_ADDR":     l4Addr,
	})
	waitForMetric(t, lb, `scalelab_lb_backends{state="unhealthy"} 1`)
	for i := range 6 {
		c, err := net.Dial("tcp", l4Addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		resp.Body.Close()
		c.Close()
		if got := resp.Header.Get("X-Served-By"); got != "well" {
			t.Fatalf("connection %d went to %q, a backend failing its health checks", i, got)
		}
	}
}
