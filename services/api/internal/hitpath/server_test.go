//go:build containers

package hitpath

// Tests of the hit path against real PostgreSQL and Redis containers
// (go test -tags containers ./internal/hitpath): every request goes to
// net/http alone and to the hit path, and the answers are compared.

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// answer is a response as compared: status, header and body.
type answer struct {
	status int
	header http.Header
	body   string
}

// send writes raw (one request or several) on a new connection and reads
// n answers.
func send(t *testing.T, addr, raw string, n int) []answer {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	method, _, _ := strings.Cut(raw, " ") // a HEAD's answer has no body
	var out []answer
	for range n {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("reading answer %d of %q from %s: %v", len(out)+1, raw, addr, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, answer{resp.StatusCode, resp.Header, string(body)})
	}
	return out
}

func get(target string, fields ...string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: api\r\n" + strings.Join(fields, "") + "\r\n"
}

// TestAnswersAsTheHandlerDoes: each request, sent to net/http (twice: the
// first may fill the cache) and to the hit path, gets the same status,
// fields and body from both; only the Date may differ, and the request
// id where the client sent none (each side then mints its own).
func TestAnswersAsTheHandlerDoes(t *testing.T) {
	p := newPair(t)
	tests := []struct {
		name, raw string
		answered  bool // by the hit path itself, not handed over
		status    int
		cache     string
	}{
		{"hit", get("/users/42"), true, 200, "HIT"},
		{"hit with a request id", get("/users/7", "X-Request-Id: abc-123\r\n"), true, 200, "HIT"},
		{"hit, connection close", get("/users/8", "Connection: close\r\n"), true, 200, "HIT"},
		{"no such user", get("/users/100000"), true, 404, "HIT"},
		{"through the lb", get("/users/43", "X-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Host: localhost:8000\r\nX-Forwarded-Proto: http\r\nVia: 1.1 scalelab-lb\r\nX-Request-Id: lb-request-1\r\n"), true, 200, "HIT"},
		{"id with a leading zero", get("/users/042"), false, 400, ""},
		{"id zero", get("/users/0"), false, 400, ""},
		{"a query", get("/users/42?include=orders"), false, 400, ""},
		{"trailing slash", get("/users/42/"), false, 404, ""},
		{"HEAD", "HEAD /users/42 HTTP/1.1\r\nHost: api\r\n\r\n", false, 200, "HIT"},
		{"HTTP/1.0", "GET /users/42 HTTP/1.0\r\nHost: api\r\n\r\n", false, 200, "HIT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			send(t, p.std, tt.raw, 1) // a miss fills the cache
			std := send(t, p.std, tt.raw, 1)[0]
			before := p.srv.conns.Answered()
			fast := send(t, p.fast, tt.raw, 1)[0]
			if got := p.srv.conns.Answered() - before; got != map[bool]int64{true: 1, false: 0}[tt.answered] {
				t.Errorf("answered by the hit path: %d, want %v", got, tt.answered)
			}
			if std.status != tt.status || fast.status != tt.status {
				t.Fatalf("status: net/http %d, hit path %d, want %d (%s / %s)", std.status, fast.status, tt.status, std.body, fast.body)
			}
			if got := fast.header.Get("X-Cache"); got != tt.cache {
				t.Errorf("X-Cache %q, want %q", got, tt.cache)
			}
			if std.body != fast.body {
				t.Errorf("body:\nnet/http %q\nhit path %q", std.body, fast.body)
			}
			for _, h := range []http.Header{std.header, fast.header} {
				if h.Get("Date") == "" || len(h.Get("X-Request-Id")) < 6 {
					t.Errorf("no Date or X-Request-Id in %v", h)
				}
				h.Del("Date")
				if !strings.Contains(tt.raw, "X-Request-Id") {
					h.Del("X-Request-Id")
				}
			}
			if !sameHeader(std.header, fast.header) {
				t.Errorf("fields:\nnet/http %v\nhit path %v", std.header, fast.header)
			}
		})
	}
}

func sameHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\x00") != strings.Join(b[k], "\x00") {
			return false
		}
	}
	return true
}

// TestHitBodyIsTheUser: the hit path's body is the user's JSON, as stored.
func TestHitBodyIsTheUser(t *testing.T) {
	p := newPair(t)
	send(t, p.std, get("/users/5"), 1)
	a := send(t, p.fast, get("/users/5"), 1)[0]
	var u struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(a.body), &u); err != nil || u.ID != 5 || u.Name == "" {
		t.Fatalf("body %q: %+v, %v", a.body, u, err)
	}
	if a.header.Get("X-Cache") != "HIT" || a.header.Get("X-Shard") != "0" || a.header.Get("X-Served-By") != instance {
		t.Errorf("fields %v", a.header)
	}
}

// TestPipelinedRequestsAnswerInOrder: requests sent back to back on one
// connection get their answers in order, across the hand-over to net/http
// (the third is not the hit path's; the fourth is answered after it, by
// net/http, which owns the connection from then on).
func TestPipelinedRequestsAnswerInOrder(t *testing.T) {
	p := newPair(t)
	for _, id := range []string{"1", "2", "3"} {
		send(t, p.std, get("/users/"+id), 1)
	}
	before := p.srv.conns.Answered()
	got := send(t, p.fast, get("/users/1")+get("/users/2")+get("/users/2?include=x")+get("/users/3"), 4)
	want := []struct {
		status int
		id     string
	}{{200, `"id":1,`}, {200, `"id":2,`}, {400, "include may only be"}, {200, `"id":3,`}}
	for i, w := range want {
		if got[i].status != w.status || !strings.Contains(got[i].body, w.id) {
			t.Errorf("answer %d: %d %q, want %d with %q", i+1, got[i].status, got[i].body, w.status, w.id)
		}
	}
	if n := p.srv.conns.Answered() - before; n != 2 {
		t.Errorf("the hit path answered %d, want 2 (then the connection is net/http's)", n)
	}
}

// TestConnectionCloseIsHonoured: an answer to Connection: close says so
// and the connection ends after it.
func TestConnectionCloseIsHonoured(t *testing.T) {
	p := newPair(t)
	send(t, p.std, get("/users/9"), 1)
	c, err := net.Dial("tcp", p.fast)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, get("/users/9", "Connection: close\r\n"))
	rest, err := io.ReadAll(c) // ends only when the server closes
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(rest), "HTTP/1.1 200 OK\r\n") || !strings.Contains(string(rest), "\r\nConnection: close\r\n") {
		t.Errorf("answer %q", rest)
	}
}

// TestRecordsAsTheHandlerDoes: the same requests give the same request
// counts in the scalelab_api_http_* series, and access log lines with the
// same fields, on both sides.
func TestRecordsAsTheHandlerDoes(t *testing.T) {
	p := newPair(t)
	for _, raw := range []string{get("/users/11"), get("/users/100001")} {
		send(t, p.std, raw, 1) // fill
		send(t, p.std, raw, 1)
	}
	await(t, func() bool { return strings.Count(p.stdLog.String(), "\n") == 4 })
	stdLogs := 4
	for _, raw := range []string{get("/users/11", "X-Request-Id: log-1\r\n"), get("/users/100001")} {
		send(t, p.std, raw, 1)
		send(t, p.fast, raw, 1)
	}
	// Both record a request just after its answer is written.
	await(t, func() bool {
		return strings.Count(p.stdLog.String(), "\n") == stdLogs+2 && strings.Count(p.fastLog.String(), "\n") == 2
	})
	for _, code := range []string{"2xx", "4xx"} {
		std := requests(t, p.stdReg, code)
		fast := requests(t, p.fastReg, code)
		if fast != 1 || std != 3 { // std: the fill, the hit before, and the one compared
			t.Errorf("%s requests of route %s: net/http %v, hit path %v; want 3 and 1", code, Route, std, fast)
		}
	}
	stdLines := strings.Split(strings.TrimSpace(p.stdLog.String()), "\n")[stdLogs:]
	fastLines := strings.Split(strings.TrimSpace(p.fastLog.String()), "\n")
	if len(stdLines) != 2 || len(fastLines) != 2 {
		t.Fatalf("log lines: net/http %d, hit path %d, want 2 each", len(stdLines), len(fastLines))
	}
	for i := range stdLines {
		s, f := logFields(t, stdLines[i]), logFields(t, fastLines[i])
		for _, k := range []string{"msg", "method", "path", "route", "status", "bytes"} {
			if s[k] != f[k] {
				t.Errorf("log field %s: net/http %v, hit path %v", k, s[k], f[k])
			}
		}
		if f["request_id"] == nil || f["request_id"] == "" || f["duration"] == nil {
			t.Errorf("hit path log line without request_id or duration: %s", fastLines[i])
		}
	}
	if f := logFields(t, fastLines[0]); f["request_id"] != "log-1" {
		t.Errorf("request_id %v, want the client's log-1", f["request_id"])
	}
}

func logFields(t *testing.T, line string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("log line %q: %v", line, err)
	}
	delete(m, "time")
	return m
}

// await polls cond until it holds, for at most 10 s.
func await(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
