package fastpath

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A write, which cannot be sent twice, must not go onto a pooled
// connection the backend has closed (a replica shut down, or replaced by
// another at the same address). The look before reuse has to work on a
// connection idle for longer than its last read deadline, which it keeps
// from its last wait for an answer.
func TestWriteSkipsPooledConnClosedByBackend(t *testing.T) {
	var accepted atomic.Int64
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "written")
	}))
	backend.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepted.Add(1)
		}
	}
	backend.Start()
	t.Cleanup(backend.Close)
	lb := startLB(t, []string{backend.URL})
	client := newClient()
	put := func() (int, string) {
		req, _ := http.NewRequest(http.MethodPut, lb.url+"/users/1", strings.NewReader(`{"name":"a"}`))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := put(); code != 200 {
		t.Fatalf("first PUT: %d %q", code, body)
	}
	answered := time.Now()
	backend.CloseClientConnections() // the lb's pooled connection among them
	// The pooled connection's read deadline (the last wait for an answer)
	// passes: the state in which the look used to be blind.
	time.Sleep(time.Until(answered.Add(2 * pollInterval)))
	if code, body := put(); code != 200 || body != "written" {
		t.Errorf("PUT after the backend closed the pooled connection: %d %q, want 200 on a new connection", code, body)
	}
	if got := accepted.Load(); got != 2 {
		t.Errorf("the backend accepted %d connections, want 2 (the closed one was not reused)", got)
	}
}
