package cache

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/redis/go-redis/v9"
)

// What a dead node gives asks for a slot-map reload; an answer from Redis,
// or the caller giving up, does not.
func TestNodeUnanswered(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"no error", nil, false},
		{"nil reply", redis.Nil, false},
		{"error reply", redis.ErrNoScript, false},
		{"caller gone", fmt.Errorf("wrapped: %w", context.Canceled), false},
		{"deadline", context.DeadlineExceeded, true},
		{"dial timeout", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("i/o timeout")}, true},
	} {
		if got := nodeUnanswered(tc.err); got != tc.want {
			t.Errorf("%s: nodeUnanswered(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
