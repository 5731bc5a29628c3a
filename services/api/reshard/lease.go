package reshard

import (
	"context"
	"errors"
	"time"

	"scalelab/services/api/shardmap"
)

// DefaultLease is how long writes stay paused after a run holding the
// cut-over's freeze stops renewing it (killed, or cut off from the
// catalog), before an api replica releases them (shardmap.ReleaseExpired).
// It is renewed every third of it, so a renewal may be late by two thirds
// before the cut-over is given up (and tried again).
const DefaultLease = 3 * time.Second

// lease keeps the cut-over's freeze lease renewed in the background until
// stopped. If a renewal finds the lease lost, it cancels the cut-over's
// context with shardmap.ErrLeaseLost: the run must not publish.
type lease struct {
	token int64
	stop  context.CancelFunc
	done  chan struct{}
}

// takeLease acquires the freeze's lease and starts renewing it. The
// returned context, for the cut-over's work, ends when the lease is lost.
func (r *run) takeLease(ctx context.Context) (context.Context, error) {
	r.stopLease()
	token, err := shardmap.AcquireFreeze(ctx, r.e.catalog, r.e.Lease)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancelCause(ctx)
	rctx, stop := context.WithCancel(ctx)
	l := &lease{token: token, stop: stop, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		t := time.NewTicker(r.e.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-rctx.Done():
				cancel(nil)
				return
			case <-t.C:
			}
			err := shardmap.RenewFreeze(rctx, r.e.catalog, token, r.e.Lease)
			if errors.Is(err, shardmap.ErrLeaseLost) {
				cancel(shardmap.ErrLeaseLost)
				return
			}
			// Any other error: the next tick tries again; past the
			// deadline it finds the lease lost.
		}
	}()
	r.lease = l
	return cctx, nil
}

// stopLease stops renewing (the lease then expires unless ended).
func (r *run) stopLease() {
	if r.lease != nil {
		r.lease.stop()
		<-r.lease.done
		r.lease = nil
	}
}

// token is the freeze's token of this run (0: none taken).
func (r *run) token() int64 {
	if r.lease == nil {
		return 0
	}
	return r.lease.token
}
