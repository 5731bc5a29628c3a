package store

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestUnansweredCountsOnlyAShardThatDidNotAnswer(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"answered", nil, false},
		{"no such user", ErrNotFound, false},
		{"refused by the fence", fmt.Errorf("put: %w", ErrPaused), false},
		{"stale map", ErrStaleMap, false},
		{"a unique violation is an answer", &pgconn.PgError{Code: "23505"}, false},
		{"the server shutting down", &pgconn.PgError{Code: "57P01"}, true},
		{"a connection exception", &pgconn.PgError{Code: "08006"}, true},
		{"no answer within DB_TIMEOUT", fmt.Errorf("query: %w", context.DeadlineExceeded), true},
		{"refused connection", errors.New("dial tcp 10.0.0.3:5432: connect: connection refused"), true},
	} {
		if got := unanswered(tt.err); got != tt.want {
			t.Errorf("%s: unanswered(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
