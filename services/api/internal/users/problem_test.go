package users

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"scalelab/services/api/internal/store"
)

func TestShardProblem(t *testing.T) {
	for _, tt := range []struct {
		err    error
		status int
		msg    string
	}{
		{fmt.Errorf("query: %w", context.DeadlineExceeded), 504, "shard 1 did not answer in time (DB_TIMEOUT)"},
		{store.ErrShardDown, 503, "shard 1 is unavailable: not answering: its queries are skipped for a moment after several in a row failed"},
		{errors.New("connection refused"), 503, "shard 1 is unavailable"},
	} {
		status, msg := shardProblem(&store.ShardError{Shard: 1, Err: tt.err})
		if status != tt.status || msg != tt.msg {
			t.Errorf("shardProblem(%v) = %d %q, want %d %q", tt.err, status, msg, tt.status, tt.msg)
		}
	}
}
