package forward

import (
	"errors"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"
)

// The lb's own answers, word for word: both engines write these.
func TestAnswers(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	try := &TimeoutError{"LB_TRY_TIMEOUT", 2 * time.Second}
	cfg := Config{MaxBodyBytes: 1024, BodyTimeout: 10 * time.Second}
	tests := []struct {
		name, got, want string
	}{
		{"no backend", NoBackend, "503 Service Unavailable: no backend available; none has resolved to an address yet, or every one is drained"},
		{"all full", AllFull("a:80", 3), "503 Service Unavailable: backend a:80 at its concurrency limit (LB_MAX_REQUESTS_PER_BACKEND=3), and so is every other backend"},
		{"full", Full(&AtLimitError{"b:80", 1}), "503 Service Unavailable: backend b:80 at its concurrency limit (LB_MAX_REQUESTS_PER_BACKEND=1)"},
		{"failed once", Failed(502, "a:80", 1, refused), "502 Bad Gateway: backend a:80 failed: dial tcp: connect: connection refused"},
		{"too slow after tries", Failed(504, "c:80", 3, try), "504 Gateway Timeout: backend c:80 too slow (the last of 3 tries on different backends): no response headers within LB_TRY_TIMEOUT (2s)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, tt.got, tt.want)
		}
	}
	faults := []struct {
		err    error
		status int
		msg    string
	}{
		{ErrBodyTooLarge, 413, "413 Content Too Large: the request body is over LB_MAX_BODY_BYTES (1024 bytes)"},
		{os.ErrDeadlineExceeded, 408, "408 Request Timeout: the request body did not arrive within LB_CLIENT_BODY_TIMEOUT (10s)"},
		{errors.New("unexpected EOF"), 400, "400 Bad Request: reading the request body failed: unexpected EOF"},
	}
	for _, f := range faults {
		if status, msg := cfg.BodyFault(f.err); status != f.status || msg != f.msg {
			t.Errorf("BodyFault(%v) = %d %q, want %d %q", f.err, status, msg, f.status, f.msg)
		}
	}
	if s := FailureStatus(try); s != http.StatusGatewayTimeout {
		t.Errorf("FailureStatus(try timeout) = %d, want 504", s)
	}
	if s := FailureStatus(refused); s != http.StatusBadGateway {
		t.Errorf("FailureStatus(refused) = %d, want 502", s)
	}
}

func TestIdempotentAndRetryStatus(t *testing.T) {
	for _, tt := range []struct {
		method string
		key    bool
		want   bool
	}{
		{"GET", false, true}, {"HEAD", false, true}, {"OPTIONS", false, true},
		{"POST", false, false}, {"PUT", false, false}, {"DELETE", false, false},
		{"POST", true, true},
	} {
		if got := Idempotent(tt.method, tt.key); got != tt.want {
			t.Errorf("Idempotent(%s, key=%v) = %v, want %v", tt.method, tt.key, got, tt.want)
		}
	}
	for status, want := range map[int]bool{500: false, 502: true, 503: true, 504: false, 200: false} {
		if got := RetryStatus(status); got != want {
			t.Errorf("RetryStatus(%d) = %v, want %v", status, got, want)
		}
	}
}
