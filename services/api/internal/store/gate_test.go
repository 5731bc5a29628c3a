package store

import (
	"context"
	"errors"
	"testing"
)

func TestReadGateLeavesConnectionsToWrites(t *testing.T) {
	for _, tc := range []struct {
		maxConns int32
		want     int
	}{{0, 4}, {1, 1}, {4, 4}, {5, 3}, {8, 6}, {20, 18}} {
		if got := cap(newReadGate(tc.maxConns)); got != tc.want {
			t.Errorf("pool of %d: reads may hold %d, want %d", tc.maxConns, got, tc.want)
		}
	}
}

func TestReadGateFullWaitsUntilTheDeadline(t *testing.T) {
	g := newReadGate(1)
	release, err := g.enter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.enter(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("full gate, ended context: err %v, want context.Canceled", err)
	}
	release()
	again, err := g.enter(ctx) // a free place is taken even by an ended context's caller
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	again()
}
