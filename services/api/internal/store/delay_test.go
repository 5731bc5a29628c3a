package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestReadDelayOffWaitsForNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // even an ended request is not refused by a delay of 0
	s := &Store{}
	if err := s.readDelay(ctx); err != nil {
		t.Fatalf("readDelay with no delay = %v, want nil", err)
	}
}

func TestReadDelayEndsWithTheRequest(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := &Store{opts: Options{ReadDelay: time.Hour}}
	if err := s.readDelay(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("readDelay of an hour on an ended request = %v, want context.Canceled", err)
	}
}
