package fastpath

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
)

// Once the service drains (DRAIN_DELAY, the listener still open), each
// answer says Connection: close and the connection ends after it, so that
// keep-alive clients leave before the listener closes.
func TestServiceDrainingClosesEachConnection(t *testing.T) {
	backend := echoBackend(t)
	var draining atomic.Bool
	lb := startLB(t, []string{backend.URL}, func(c *Config) { c.Draining = draining.Load })

	conn, err := net.Dial("tcp", lb.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	get := func(path string) *http.Response {
		t.Helper()
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: lb\r\n\r\n", path)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if resp := get("/before"); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("before the drain: status %d, close %v; want 200 kept alive", resp.StatusCode, resp.Close)
	}
	draining.Store(true)
	if resp := get("/during"); resp.StatusCode != 200 || !resp.Close {
		t.Fatalf("while draining: status %d, close %v; want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
	if n, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after the answer while draining: read %q, %v; want EOF (the lb closed the connection)", n, err)
	}
}
