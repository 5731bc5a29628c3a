package shardmap

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Follower keeps a replica on the newest map. It listens on Channel for new
// versions and, because a notification is lost while its connection is down,
// also polls the catalog every poll interval; a shard that refuses a stale
// map makes the store call Refresh at once. Each newer map goes to apply.
type Follower struct {
	pool   *pgxpool.Pool
	poll   time.Duration
	apply  func(Map) error
	logger *slog.Logger

	mu   sync.Mutex // one Refresh at a time: maps are applied in order
	cur  atomic.Pointer[Map]
	m    followMetrics
	rows *rowsCollector

	// OnReshard, if set before Run, is called in its own goroutine with
	// the target map of a reshard under way, once per target (again at a
	// later poll if it failed): the replica dials the new shards before
	// the flip sends it there.
	OnReshard func(context.Context, Map) error
	prepared  atomic.Int64 // the target version OnReshard took, 0: none
}

// NewFollower returns a follower of the catalog behind pool; its metrics go
// on reg. It follows nothing until Refresh or Run.
func NewFollower(pool *pgxpool.Pool, poll time.Duration, apply func(Map) error, logger *slog.Logger, reg prometheus.Registerer) *Follower {
	f := &Follower{pool: pool, poll: poll, apply: apply, logger: logger, m: newFollowMetrics(reg)}
	f.rows = newRowsCollector(f.Current)
	reg.MustRegister(f.rows)
	return f
}

// Current returns the map applied last (the zero Map before the first).
func (f *Follower) Current() Map {
	if m := f.cur.Load(); m != nil {
		return *m
	}
	return Map{}
}

// Refresh loads the catalog's map and applies it if it is newer than the
// current one; it reports whether it did.
func (f *Follower) Refresh(ctx context.Context) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m, published, err := Load(ctx, f.pool)
	if err != nil {
		return false, err
	}
	if cur := f.cur.Load(); cur != nil && m.Version <= cur.Version {
		return false, nil
	}
	if err := f.apply(m); err != nil {
		return false, err
	}
	f.cur.Store(&m)
	lag := time.Since(published)
	f.m.version.Set(float64(m.Version))
	f.m.lag.Set(lag.Seconds())
	f.logger.Info("shard map applied", "version", m.Version, "router", m.Router, "shards", len(m.DSNs), "follow_lag", lag.String())
	return true, nil
}

// Run follows the catalog until ctx ends.
func (f *Follower) Run(ctx context.Context) {
	go f.listen(ctx)
	t := time.NewTicker(f.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := f.Refresh(ctx); err != nil && ctx.Err() == nil {
				f.logger.Warn("shard map poll failed", "err", err)
			}
			st, ok := f.m.observeState(ctx, f.pool)
			if ok && st.Active() {
				f.rows.setTarget(st.To.DSNs)
				f.prepare(ctx, st.To)
			} else {
				f.rows.setTarget(nil)
			}
			if ok && st.Frozen && st.FreezeLeft <= 0 {
				f.releaseExpired(ctx)
			}
		}
	}
}

// prepare runs OnReshard for the target map to, unless it already did.
func (f *Follower) prepare(ctx context.Context, to Map) {
	if f.OnReshard == nil || f.prepared.Swap(to.Version) == to.Version {
		return
	}
	go func() {
		if err := f.OnReshard(ctx, to); err != nil {
			if ctx.Err() == nil {
				f.logger.Warn("preparing for the reshard's new map failed; the next poll tries again", "version", to.Version, "err", err)
			}
			f.prepared.CompareAndSwap(to.Version, 0)
			return
		}
		f.m.prepared.Set(float64(to.Version))
	}()
}

// releaseExpired lets writes go on when the reshard that paused them has
// stopped renewing the freeze's lease (lease.go): a killed shardctl costs
// at most its lease and one poll of paused writes.
func (f *Follower) releaseExpired(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	released, err := ReleaseExpired(ctx, f.pool)
	if err != nil {
		f.logger.Warn("releasing an expired write freeze failed; the next poll tries again", "err", err)
		return
	}
	if released {
		f.m.released.Inc()
		f.logger.Warn("released the write freeze of a reshard that stopped renewing its lease; run shardctl apply again to finish it")
	}
}

// listen holds one connection LISTENing on Channel, and reconnects.
func (f *Follower) listen(ctx context.Context) {
	for ctx.Err() == nil {
		err := f.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		f.logger.Warn("shard map listener lost; polling meanwhile", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(f.poll):
		}
	}
}

func (f *Follower) listenOnce(ctx context.Context) error {
	pc, err := f.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A connection that waited for notifications goes back to no one.
	conn := pc.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	// Anything published before LISTEN took effect is picked up here.
	if _, err := f.Refresh(ctx); err != nil {
		return err
	}
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		f.m.notified.Inc()
		if _, err := f.Refresh(ctx); err != nil {
			return err
		}
	}
}
