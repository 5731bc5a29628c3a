package platform

import (
	"bufio"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
)

const plainHead = "GET /img/logo.png?v=2 HTTP/1.1\r\nHost: edge.example:8080\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n"

func TestParseHeadAcceptsAPlainGet(t *testing.T) {
	var req PlainGet
	if !ParsePlainGet([]byte(plainHead), &req) {
		t.Fatal("a plain GET was not accepted")
	}
	if string(req.Target) != "/img/logo.png?v=2" || req.RequestID != nil || req.Closing || req.Via {
		t.Errorf("parsed %q, id %q, closing %v, via %v", req.Target, req.RequestID, req.Closing, req.Via)
	}
	head := "GET / HTTP/1.1\r\nhost: a\r\nX-Request-ID:  abc-1 \r\nConnection: Close\r\n\r\n"
	if !ParsePlainGet([]byte(head), &req) || string(req.RequestID) != "abc-1" || !req.Closing || string(req.Target) != "/" {
		t.Errorf("parsed %q: id %q, closing %v", head, req.RequestID, req.Closing)
	}
	// What the lb sends: a plain GET for the api, reported as proxied.
	head = "GET /users/42 HTTP/1.1\r\nHost: api:8080\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Host: localhost:8000\r\nX-Forwarded-Proto: http\r\nVia: 1.1 scalelab-lb\r\nX-Request-Id: r1\r\n\r\n"
	if !ParsePlainGet([]byte(head), &req) || !req.Via || string(req.Target) != "/users/42" {
		t.Errorf("parsed %q: accepted? target %q, via %v", head, req.Target, req.Via)
	}
}

// Every head here must go to net/http: the hit path would answer it
// differently from the handler, or net/http would refuse it.
func TestParseHeadLeavesTheRestToNetHTTP(t *testing.T) {
	heads := map[string]string{
		"HEAD":                  "HEAD /a HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST":                  "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
		"PURGE":                 "PURGE /a HTTP/1.1\r\nHost: a\r\n\r\n",
		"lower-case method":     "get /a HTTP/1.1\r\nHost: a\r\n\r\n",
		"HTTP/1.0":              "GET /a HTTP/1.0\r\nHost: a\r\n\r\n",
		"absolute form":         "GET http://a/a HTTP/1.1\r\nHost: a\r\n\r\n",
		"asterisk":              "GET * HTTP/1.1\r\nHost: a\r\n\r\n",
		"percent-encoding":      "GET /a%2Fb HTTP/1.1\r\nHost: a\r\n\r\n",
		"dot segment":           "GET /a/../b HTTP/1.1\r\nHost: a\r\n\r\n",
		"double slash":          "GET //a HTTP/1.1\r\nHost: a\r\n\r\n",
		"space in target":       "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
		"fragment":              "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n",
		"no host":               "GET /a HTTP/1.1\r\n\r\n",
		"two hosts":             "GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"odd host":              "GET /a HTTP/1.1\r\nHost: a/b\r\n\r\n",
		"cache-control":         "GET /a HTTP/1.1\r\nHost: a\r\nCache-Control: no-cache\r\n\r\n",
		"authorization":         "GET /a HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer x\r\n\r\n",
		"range":                 "GET /a HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1\r\n\r\n",
		"if-none-match":         "GET /a HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"x\"\r\n\r\n",
		"if-modified-since":     "GET /a HTTP/1.1\r\nHost: a\r\nif-modified-since: Sat, 05 Dec 2026 15:12:02 GMT\r\n\r\n",
		"content-length":        "GET /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		"transfer-encoding":     "GET /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
		"expect":                "GET /a HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
		"upgrade":               "GET /a HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
		"connection other":      "GET /a HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, x-foo\r\n\r\n",
		"space before colon":    "GET /a HTTP/1.1\r\nHost : a\r\n\r\n",
		"obs-fold":              "GET /a HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n",
		"bare LF":               "GET /a HTTP/1.1\nHost: a\n\n",
		"control byte":          "GET /a HTTP/1.1\r\nHost: a\r\nX-A: b\x01\r\n\r\n",
		"obs-text":              "GET /a HTTP/1.1\r\nHost: a\r\nX-A: caf\xc3\xa9\r\n\r\n",
		"two request ids":       "GET /a HTTP/1.1\r\nHost: a\r\nX-Request-Id: a\r\nX-Request-Id: b\r\n\r\n",
		"request id too long":   "GET /a HTTP/1.1\r\nHost: a\r\nX-Request-Id: " + strings.Repeat("a", 129) + "\r\n\r\n",
		"request id with space": "GET /a HTTP/1.1\r\nHost: a\r\nX-Request-Id: a b\r\n\r\n",
		"empty line first":      "\r\nGET /a HTTP/1.1\r\nHost: a\r\n\r\n",
	}
	for name, head := range heads {
		var req PlainGet
		if ParsePlainGet([]byte(head), &req) {
			t.Errorf("%s: accepted %q", name, head)
		}
	}
}

// The target the hit path accepts is the cache key as it stands: what
// net/http's request URI gives back for it, and a path its ServeMux
// serves without redirecting to a cleaned one.
func TestPlainTargetIsItsOwnKey(t *testing.T) {
	const alphabet = "abcXYZ019-._~!$&'()*+,;=:@/?%# "
	rng := rand.New(rand.NewPCG(1, 2))
	accepted := 0
	for range 20000 {
		b := []byte{'/'}
		for range rng.IntN(12) {
			b = append(b, alphabet[rng.IntN(len(alphabet))])
		}
		if !plainTarget(b) {
			continue
		}
		accepted++
		target := string(b)
		u, err := url.ParseRequestURI(target)
		if err != nil {
			t.Fatalf("%q accepted, but net/url refuses it: %v", target, err)
		}
		if got := u.RequestURI(); got != target {
			t.Fatalf("%q accepted, but its request URI is %q", target, got)
		}
		if p := path.Clean(u.Path); p != u.Path && p+"/" != u.Path {
			t.Fatalf("%q accepted, but ServeMux would redirect it to %q", target, p)
		}
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: a\r\n\r\n")))
		if err != nil || r.URL.RequestURI() != target {
			t.Fatalf("%q accepted, but net/http reads it as %v, %v", target, r, err)
		}
	}
	if accepted < 1000 {
		t.Fatalf("only %d of the random targets were plain: the test checks too little", accepted)
	}
}
