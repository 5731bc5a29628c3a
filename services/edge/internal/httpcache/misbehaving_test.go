package httpcache

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// rawOrigin is an origin written on the socket, so that it can misbehave
// in ways net/http's server never would. Each request is answered by what
// its path asks for; /good/... is a well-formed, cacheable answer.
type rawOrigin struct {
	ln  net.Listener
	URL string
}

func newRawOrigin(t *testing.T) *rawOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &rawOrigin{ln: ln, URL: "http://" + ln.Addr().String()}
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); conns.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() { o.serve(c) })
		}
	}()
	return o
}

// serve answers requests on one connection until the path says to close
// it, or the edge does.
func (o *rawOrigin) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		good := func(extra string) string {
			body := "fresh " + req.URL.Path
			return fmt.Sprintf("HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: %d\r\n\r\n%s%s", len(body), body, extra)
		}
		switch p := req.URL.Path; {
		case strings.HasPrefix(p, "/good/"):
			io.WriteString(c, good(""))
		case p == "/close-at-once":
			// A well-formed answer, then the connection closed without
			// a word (no Connection: close): idle connections die early.
			io.WriteString(c, good(""))
			return
		case p == "/stray-bytes":
			// Bytes after the answer, on what is then an idle connection.
			io.WriteString(c, good("\x00stray"))
		case p == "/unknown-coding":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nTransfer-Encoding: zork\r\n\r\nwhatever")
			return
		case p == "/short-body":
			io.WriteString(c, "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 100\r\n\r\nonly this")
			return
		case p == "/interim":
			io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"+good(""))
		default:
			io.WriteString(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
		}
	}
}

// An origin that misbehaves on some requests: each bad answer is a clear
// 502 to its own client only, and every other request, before, during and
// after, succeeds and is cached as usual.
func TestMisbehavingOriginFailsOnlyItsOwnRequests(t *testing.T) {
	o := newRawOrigin(t)
	e := newEdge(t, o.URL)

	bad := map[string]string{
		"/unknown-coding": "unsupported transfer encoding",
		"/short-body":     "unexpected EOF",
	}
	well := []string{"/close-at-once", "/stray-bytes", "/interim"}
	const rounds = 5
	var wg sync.WaitGroup
	goodAnswers := make([][]response, rounds)
	for round := range rounds {
		for path, why := range bad {
			wg.Go(func() {
				r := e.get(t, path)
				if r.status != http.StatusBadGateway || !strings.Contains(r.body, why) {
					t.Errorf("GET %s: %d %q, want 502 saying %q", path, r.status, r.body, why)
				}
			})
		}
		for _, path := range well {
			wg.Go(func() {
				if r := e.get(t, path); r.status != http.StatusOK || r.body != "fresh "+path {
					t.Errorf("GET %s: %d %q, want 200", path, r.status, r.body)
				}
			})
		}
		// Writes go on new connections: none fails for the stray bytes
		// or the closing of another answer's connection.
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, e.URL+"/good/form", strings.NewReader("field=value"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("POST /good/form: %d %q", resp.StatusCode, body)
			}
		})
		goodAnswers[round] = make([]response, 4)
		for i := range 4 {
			wg.Go(func() { goodAnswers[round][i] = e.get(t, fmt.Sprintf("/good/%d/%d", round, i)) })
		}
	}
	wg.Wait()

	for round, answers := range goodAnswers {
		for i, r := range answers {
			path := fmt.Sprintf("/good/%d/%d", round, i)
			expect(t, r, http.StatusOK, "MISS", "", "fresh "+path)
			hasStatus(t, r, "stored")
			expect(t, e.get(t, path), http.StatusOK, "HIT", "", "fresh "+path)
		}
	}
	for path := range bad {
		if _, ok := e.store.Peek(path); ok {
			t.Errorf("%s was stored", path)
		}
	}
	for _, path := range well {
		expect(t, e.get(t, path), http.StatusOK, "HIT", "", "fresh "+path)
	}
}
