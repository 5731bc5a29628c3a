package fastpath

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestParseRequestValid(t *testing.T) {
	tests := []struct {
		name, head string
		check      func(t *testing.T, r *request)
	}{
		{"simple GET", "GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n", func(t *testing.T, r *request) {
			if string(r.method) != "GET" || string(r.target) != "/a?b=1" || string(r.host) != "x" || r.minor != 1 ||
				r.contentLength != -1 || r.chunked || r.close {
				t.Errorf("got %+v", r)
			}
		}},
		{"bare LF line ends", "GET / HTTP/1.1\nHost: x\n\n", func(t *testing.T, r *request) {
			if string(r.host) != "x" {
				t.Errorf("host %q", r.host)
			}
		}},
		{"leading empty line", "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", func(t *testing.T, r *request) {
			if string(r.method) != "GET" {
				t.Errorf("method %q", r.method)
			}
		}},
		{"content length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 42\r\n\r\n", func(t *testing.T, r *request) {
			if r.contentLength != 42 {
				t.Errorf("content length %d", r.contentLength)
			}
		}},
		{"identical content lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", func(t *testing.T, r *request) {
			if r.contentLength != 5 {
				t.Errorf("content length %d", r.contentLength)
			}
		}},
		{"chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n", func(t *testing.T, r *request) {
			if !r.chunked {
				t.Error("not chunked")
			}
		}},
		{"connection close and named", "GET / HTTP/1.1\r\nHost: x\r\nConnection: close, X-Secret\r\n\r\n", func(t *testing.T, r *request) {
			if !r.close || len(r.connNamed) != 1 || string(r.connNamed[0]) != "X-Secret" {
				t.Errorf("close %v, named %q", r.close, r.connNamed)
			}
		}},
		{"HTTP/1.0 closes by default", "GET / HTTP/1.0\r\n\r\n", func(t *testing.T, r *request) {
			if !r.close || r.minor != 0 {
				t.Errorf("close %v minor %d", r.close, r.minor)
			}
		}},
		{"HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", func(t *testing.T, r *request) {
			if r.close {
				t.Error("close")
			}
		}},
		{"upgrade and expect noticed", "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nExpect: 100-continue\r\n\r\n", func(t *testing.T, r *request) {
			if !r.upgrade || !r.expect {
				t.Errorf("upgrade %v expect %v", r.upgrade, r.expect)
			}
		}},
		{"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", func(t *testing.T, r *request) {
			if !r.h2Preface {
				t.Error("no preface")
			}
		}},
		{"value whitespace trimmed, obs-text kept", "GET / HTTP/1.1\r\nHost: x\r\nX-A: \t caf\xc3\xa9 \t\r\n\r\n", func(t *testing.T, r *request) {
			if v := string(r.fields[1].value); v != "caf\xc3\xa9" {
				t.Errorf("value %q", v)
			}
		}},
		{"request id and idempotency key", "POST / HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\r\nIdempotency-Key: k\r\n\r\n", func(t *testing.T, r *request) {
			if string(r.requestID) != "abc" || !r.idempotencyKey || !r.idempotent() {
				t.Errorf("id %q key %v", r.requestID, r.idempotencyKey)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r request
			n, err := parseRequest([]byte(tt.head+"NEXT"), &r)
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if !r.h2Preface && n != len(tt.head) {
				t.Errorf("head length %d, want %d", n, len(tt.head))
			}
			tt.check(t, &r)
		})
	}
}

func TestParseRequestRefused(t *testing.T) {
	tests := []struct {
		name, head string
		status     int
	}{
		{"Content-Length and Transfer-Encoding", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"Transfer-Encoding then Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400},
		{"differing Content-Lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nContent-Length: 5\r\n\r\n", 400},
		{"Content-Length list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n", 400},
		{"signed Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n", 400},
		{"huge Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
		{"two Transfer-Encodings", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", 400},
		{"a coding other than chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400},
		{"chunked, chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
		{"Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"space before the colon", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\n", 400},
		{"empty name", "GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n", 400},
		{"no colon", "GET / HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n", 400},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n", 400},
		{"CR inside a value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r2\r\n\r\n", 400},
		{"NUL inside a value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\x002\r\n\r\n", 400},
		{"DEL inside a value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\x7f\r\n\r\n", 400},
		{"non-token name", "GET / HTTP/1.1\r\nHost: x\r\nX(A): 1\r\n\r\n", 400},
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"Host with a slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
		{"space in the target", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"control in the target", "GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"broken escape in the target", "GET /a%2 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"non-hex escape in the target", "GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"no version", "GET /\r\nHost: x\r\n\r\n", 400},
		{"bad method", "G(ET / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"two spaces", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"HTTP/1.2", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505},
		{"HTTP/2.0 not a preface", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"too many fields", "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: 1\r\n", maxFields) + "\r\n", 431},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r request
			_, err := parseRequest([]byte(tt.head), &r)
			var he *headError
			if !errors.As(err, &he) {
				t.Fatalf("error %v, want a refusal", err)
			}
			if he.status != tt.status {
				t.Errorf("status %d (%s), want %d", he.status, he.msg, tt.status)
			}
		})
	}
}

func TestParseRequestIncomplete(t *testing.T) {
	full := "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\n"
	for i := range len(full) - 1 {
		var r request
		if _, err := parseRequest([]byte(full[:i]), &r); err != errIncomplete {
			t.Errorf("%q: error %v, want errIncomplete", full[:i], err)
		}
	}
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		head    string
		status  int
		cl      int64
		chunked bool
		close   bool
		wantErr bool
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", 200, 3, false, false, false},
		{"HTTP/1.1 204\r\n\r\n", 204, -1, false, false, false},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 200, -1, true, false, false},
		{"HTTP/1.0 200 OK\r\n\r\n", 200, -1, false, true, false},
		{"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", 200, -1, false, true, false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 0, false, false, true},
		{"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 0, 0, false, false, true},
		{"HTTP/1.1 2000 OK\r\n\r\n", 0, 0, false, false, true},
		{"HTTP/2 200\r\n\r\n", 0, 0, false, false, true},
		{"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n", 0, 0, false, false, true},
	}
	for _, tt := range tests {
		var r response
		_, err := parseResponse([]byte(tt.head), &r)
		if tt.wantErr {
			if err == nil {
				t.Errorf("%q: no error", tt.head)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.head, err)
			continue
		}
		if r.status != tt.status || r.contentLength != tt.cl || r.chunked != tt.chunked || r.close != tt.close {
			t.Errorf("%q: status %d cl %d chunked %v close %v", tt.head, r.status, r.contentLength, r.chunked, r.close)
		}
	}
}

func TestParseChunkSize(t *testing.T) {
	for line, want := range map[string]int64{"0": 0, "a": 10, "FF": 255, "10;ext=1": 16, "1f ; x": 31} {
		if got, ok := parseChunkSize([]byte(line)); !ok || got != want {
			t.Errorf("%q: %d %v, want %d", line, got, ok, want)
		}
	}
	for _, bad := range []string{"", "g", "-1", "0x10", "1234567890abcdef0", " 1", "1\x00"} {
		if _, ok := parseChunkSize([]byte(bad)); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzParseRequest checks the parser's promises on any input: it never
// panics, a parsed head ends within the input, and whatever it accepts,
// net/http's own server parser accepts too, with the same framing: the lb
// never forwards a request whose length the backend would read otherwise.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive, x-a\r\nX-A: 1\r\n\r\n",
		"GET / HTTP/1.1\nHost: x\n\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX: 1\r\n 2\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r request
		n, err := parseRequest(data, &r)
		if err != nil {
			return
		}
		if n <= 0 || n > len(data) {
			t.Fatalf("head length %d of %d bytes", n, len(data))
		}
		if r.h2Preface {
			return
		}
		// Ask net/http about the same head, less the empty lines before
		// it that the lb skips (RFC 9112 2.2) and net/http does not.
		head := data[:n]
		for len(head) > 0 && (head[0] == '\n' || head[0] == '\r' && len(head) > 1 && head[1] == '\n') {
			head = head[bytes.IndexByte(head, '\n')+1:]
		}
		req, err := http.ReadRequest(newBufReader(head))
		if err != nil {
			t.Fatalf("accepted a head net/http refuses (%v): %q", err, data[:n])
		}
		switch {
		case r.chunked:
			if len(req.TransferEncoding) != 1 || req.TransferEncoding[0] != "chunked" {
				t.Fatalf("chunked here, %v there: %q", req.TransferEncoding, data[:n])
			}
		case r.contentLength >= 0:
			if req.ContentLength != r.contentLength {
				t.Fatalf("length %d here, %d there: %q", r.contentLength, req.ContentLength, data[:n])
			}
		default:
			if req.ContentLength > 0 || len(req.TransferEncoding) > 0 {
				t.Fatalf("no body here, %d/%v there: %q", req.ContentLength, req.TransferEncoding, data[:n])
			}
		}
		if !bytes.Equal(r.method, []byte(req.Method)) {
			t.Fatalf("method %q here, %q there", r.method, req.Method)
		}
	})
}

func newBufReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
