package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// A reshard moves users between shards while the api serves them; each
// shard's fence (table shard_fence, one row) keeps a replica that still
// routes by an older map from reading or writing a user the shard no longer
// answers for. Every query names its map version; the shard refuses it when
// the version is older than the fence's min_version (ErrStaleMap), and
// refuses writes while the fence is frozen (ErrPaused, the cut-over). The
// store then follows the map, or waits, and runs the query again: the client
// sees a slower answer, not an error, unless the wait passes PauseMax.
var (
	ErrStaleMap = errors.New("the shard map has moved on")
	ErrPaused   = errors.New("writes are paused for a reshard's cut-over")
)

// fencedWrite begins every write: it takes the fence row FOR KEY SHARE,
// which the cut-over's SELECT ... FOR UPDATE waits for, and which waits for
// it. So when the cut-over has frozen the fence no write is in flight, and
// every write that comes later reads the frozen fence. $N is the map version
// the write was routed by: the highest parameter of the statement it begins.
func fencedWrite(versionParam int) string {
	return fmt.Sprintf(fencedWriteFmt, versionParam)
}

const fencedWriteFmt = `
	WITH f AS (
		SELECT frozen, min_version, (NOT frozen AND min_version <= $%d) AS allowed
		FROM shard_fence WHERE id = 1 FOR KEY SHARE)`

// pausePoll is how often a refused request asks again.
const pausePoll = 10 * time.Millisecond

// check says whether a shard whose fence reads minVersion takes a read
// routed by v.
func (v *View) check(minVersion int64) error {
	if minVersion > v.Version {
		return ErrStaleMap
	}
	return nil
}

// checkWrite says whether it takes a write.
func (v *View) checkWrite(frozen bool, minVersion int64) error {
	if err := v.check(minVersion); err != nil {
		return err
	}
	if frozen {
		return ErrPaused
	}
	return nil
}

// onMap runs op by the current view, and again while the shard refuses it:
// at once after following the map if a newer one is published, else after
// pausePoll. It gives up once PauseMax has passed since the first refusal.
func (s *Store) onMap(ctx context.Context, op func(*View) error) error {
	var first time.Time
	for {
		err := op(s.View())
		reason := "paused"
		switch {
		case errors.Is(err, ErrStaleMap):
			reason = "stale_map"
		case errors.Is(err, ErrPaused):
		default:
			if !first.IsZero() {
				s.waited.Observe(time.Since(first).Seconds())
			}
			return err
		}
		if first.IsZero() {
			first = time.Now()
			s.waits.WithLabelValues(reason).Inc()
		}
		if time.Since(first) > s.opts.PauseMax {
			return err
		}
		if reason == "stale_map" && s.refresh != nil {
			if moved, _ := s.refresh(ctx); moved {
				continue
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pausePoll):
		}
	}
}
