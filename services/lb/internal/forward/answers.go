package forward

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// The answers the lb writes itself, as text/plain bodies: the status line's
// words first, then why, naming the variable that decided it.

// NoBackend is the 503 for a request with no backend to go to.
const NoBackend = "503 Service Unavailable: no backend available; none has resolved to an address yet, or every one is drained"

// AllFull is the 503 for a request whose backends are all at their
// concurrency limit, first being the policy's choice.
func AllFull(first string, limit int) string {
	return "503 Service Unavailable: " + (&AtLimitError{first, limit}).Error() + ", and so is every other backend"
}

// Full is the 503 for a request whose backend filled up after it was
// picked, when no other could be tried.
func Full(err *AtLimitError) string { return "503 Service Unavailable: " + err.Error() }

// FailureStatus is the status of a try that got no answer: 504 when it
// was too slow, 502 otherwise.
func FailureStatus(err error) int {
	if IsTimeout(err) {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// Failed is the 502 or 504 (status) after the last of tries on addr
// failed with err.
func Failed(status int, addr string, tries int, err error) string {
	tried := ""
	if tries > 1 {
		tried = fmt.Sprintf(" (the last of %d tries on different backends)", tries)
	}
	if status == http.StatusGatewayTimeout {
		return fmt.Sprintf("504 Gateway Timeout: backend %s too slow%s: %v", addr, tried, err)
	}
	return fmt.Sprintf("502 Bad Gateway: backend %s failed%s: %v", addr, tried, err)
}

// ErrBodyTooLarge is a request body longer than LB_MAX_BODY_BYTES.
var ErrBodyTooLarge = errors.New("request body larger than LB_MAX_BODY_BYTES")

// BodyFault is the status and sentence for a client's request body that
// failed: too large (413), too slow (408), or unreadable (400). The
// client's fault, never held against the backend.
func (c *Config) BodyFault(err error) (int, string) {
	if errors.Is(err, ErrBodyTooLarge) {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf(
			"413 Content Too Large: the request body is over LB_MAX_BODY_BYTES (%d bytes)", c.MaxBodyBytes)
	}
	if IsTimeout(err) {
		return http.StatusRequestTimeout, fmt.Sprintf(
			"408 Request Timeout: the request body did not arrive within LB_CLIENT_BODY_TIMEOUT (%s)", c.BodyTimeout)
	}
	return http.StatusBadRequest, fmt.Sprintf("400 Bad Request: reading the request body failed: %v", err)
}

// TimeoutError is a try or request timeout of the lb's own.
type TimeoutError struct {
	What string // the variable that set it
	D    time.Duration
}

func (e *TimeoutError) Error() string {
	return "no response headers within " + e.What + " (" + e.D.String() + ")"
}
func (e *TimeoutError) Timeout() bool   { return true }
func (e *TimeoutError) Temporary() bool { return true }

// IsTimeout covers the lb's own try and request timeouts, and a dial or
// read that timed out; all mean the other side did not answer in time.
func IsTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
