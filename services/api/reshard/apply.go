package reshard

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"scalelab/services/api/internal/store"
	"scalelab/services/api/shardmap"
)

// Result is what an apply did.
type Result struct {
	From, To shardmap.Map
	Nothing  bool          // the map already was the target
	Resumed  string        // the phase a previous run had reached, if any
	Pause    time.Duration // how long writes were paused at the cut-over
	// Checked is the moved rows compared with their copies before the
	// pause, with traffic flowing; Rechecked, those compared again while
	// writes were paused: the rows written since. The second, not the
	// first, grows the pause.
	Checked, Rechecked int64
	Took               time.Duration
}

// run is one apply: the two maps, their routers and pools, and the state.
type run struct {
	e          *Engine
	from, to   shardmap.Map
	fromR, toR shardmap.Router
	olds, news []*pgxpool.Pool
	all        []*pgxpool.Pool
	st         shardmap.State
	start      time.Time
	frozenAt   time.Time
	lease      *lease // the cut-over's freeze lease, while held
	copied     int64  // rows copied by this run, for its rate
	checked    int64  // moved rows verified before the pause, by this run
	rechecked  int64  // rows verified again under the pause that flipped
}

// ErrVerify means the moved ranges still differed after several cut-overs.
var ErrVerify = errors.New("verification failed")

// Apply reshards the tier to n shards with router (empty: the current
// router), or takes up the reshard in progress, which must have the same
// target. With dryRun it only checks and says what it would do.
func (e *Engine) Apply(ctx context.Context, n int, router string, dryRun bool) (Result, error) {
	st, err := e.State(ctx)
	if err != nil && !errors.Is(err, shardmap.ErrNoReshard) {
		return Result{}, err
	}
	cur, err := e.Current(ctx)
	if err != nil {
		return Result{}, err
	}
	var res Result
	if st.Active() {
		if len(st.To.DSNs) != n || (router != "" && router != st.To.Router) {
			return Result{}, fmt.Errorf("refusing: a reshard to %s is in progress (phase %s); finish it first: shardctl apply --to %d --router %s",
				st.To.Describe(), st.Phase, len(st.To.DSNs), st.To.Router)
		}
		if res.From, err = shardmap.LoadVersion(ctx, e.catalog, st.FromVersion); err != nil {
			return Result{}, err
		}
		res.To, res.Resumed = st.To, st.Phase
	} else {
		if res.To, err = e.Target(cur, n, router); err != nil {
			return Result{}, err
		}
		res.From = cur
		if cur.Same(res.To) {
			res.Nothing, res.To = true, cur
			return res, nil
		}
		st = shardmap.State{FromVersion: cur.Version, To: res.To, Phase: shardmap.PhaseCopy,
			Cursors: make([]int64, len(cur.DSNs)), Started: time.Now()}
		for i := range st.Cursors {
			st.Cursors[i] = math.MinInt64
		}
	}
	if err := e.Reachable(ctx, res.From, res.To); err != nil {
		return Result{}, err
	}
	if dryRun {
		return res, nil
	}
	r, err := e.newRun(res.From, res.To, st)
	if err != nil {
		return Result{}, err
	}
	if err := r.phases(ctx); err != nil {
		return res, err
	}
	res.Pause, res.Took = r.st.Pause, time.Since(r.start)
	res.Checked, res.Rechecked = r.checked, r.rechecked
	return res, nil
}

func (e *Engine) newRun(from, to shardmap.Map, st shardmap.State) (*run, error) {
	r := &run{e: e, from: from, to: to, fromR: from.MustRouter(), toR: to.MustRouter(), st: st, start: time.Now()}
	for _, d := range from.DSNs {
		p, err := e.pool(d)
		if err != nil {
			return nil, err
		}
		r.olds = append(r.olds, p)
	}
	for _, d := range to.DSNs {
		p, err := e.pool(d)
		if err != nil {
			return nil, err
		}
		r.news = append(r.news, p)
	}
	for _, d := range union(from, to) {
		p, _ := e.pool(d)
		r.all = append(r.all, p)
	}
	return r, nil
}

// phases runs the phases from the recorded one to the end.
func (r *run) phases(ctx context.Context) error {
	// A run that stops holding the freeze stops renewing it: the lease
	// then expires and an api replica releases the writes.
	defer r.stopLease()
	if r.st.Phase == shardmap.PhaseCopy || r.st.Phase == shardmap.PhaseCatchUp || r.st.Phase == shardmap.PhaseCutover {
		if err := r.prepare(ctx); err != nil {
			return err
		}
	}
	for attempts := 0; r.st.Phase != shardmap.PhaseDone; {
		r.e.logf("phase %s", r.st.Phase)
		var err error
		next := ""
		switch r.st.Phase {
		case shardmap.PhaseCopy:
			err, next = r.copy(ctx), shardmap.PhaseCatchUp
		case shardmap.PhaseCatchUp:
			err, next = r.settle(ctx), shardmap.PhaseCutover
			if errors.Is(err, errDiffered) {
				if attempts++; attempts == 3 {
					return fmt.Errorf("%w: %s", ErrVerify, r.st.Verified)
				}
				continue
			}
		case shardmap.PhaseCutover:
			// cutover records the flip itself, in the catalog transaction
			// that publishes the map.
			err = r.cutover(ctx)
			if errors.Is(err, errDiffered) {
				if attempts++; attempts == 3 {
					return fmt.Errorf("%w: %s", ErrVerify, r.st.Verified)
				}
				continue
			}
		case shardmap.PhaseFlipped:
			err, next = r.release(ctx), shardmap.PhaseCleanup
		case shardmap.PhaseCleanup:
			err, next = r.cleanup(ctx), shardmap.PhaseDone
		default:
			return fmt.Errorf("unknown phase %q in the catalog", r.st.Phase)
		}
		if err != nil {
			return fmt.Errorf("phase %s: %w", r.st.Phase, err)
		}
		if next != "" {
			if err := r.setPhase(ctx, next); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *run) setPhase(ctx context.Context, phase string) error {
	r.st.Phase = phase
	return shardmap.SaveState(ctx, r.e.catalog, r.st)
}

// prepare gives every shard of both maps the users schema and the
// reshard's tables, and the old shards the change trigger: before the first
// row is read, so no write after it goes unnoticed.
func (r *run) prepare(ctx context.Context) error {
	if err := shardmap.SaveState(ctx, r.e.catalog, r.st); err != nil {
		return err
	}
	for _, p := range r.all {
		// Only a shard without the users table gets the users schema: its
		// ALTER TABLE would lock out the readers of a serving shard.
		var fresh bool
		if err := p.QueryRow(ctx, `SELECT to_regclass('users') IS NULL OR to_regclass('shard_fence') IS NULL`).Scan(&fresh); err != nil {
			return err
		}
		if fresh {
			if err := ddl(ctx, p, store.Schema); err != nil {
				return fmt.Errorf("users schema: %v", err)
			}
		}
		if err := ddl(ctx, p, shardSchema); err != nil {
			return fmt.Errorf("reshard schema: %v", err)
		}
	}
	for _, p := range r.olds {
		if err := ddl(ctx, p, noteChanges); err != nil {
			return fmt.Errorf("change trigger: %v", err)
		}
	}
	return nil
}

// ddl runs a schema change on a serving shard. While it waits for its
// table lock every later reader would queue behind it, so it waits at most
// half a second and tries again.
func ddl(ctx context.Context, p *pgxpool.Pool, sql string) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, p, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '500ms'`); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, sql)
			return err
		})
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "55P03" || attempt == 100 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (r *run) progress(phase string, done, total int64) {
	if r.e.Progress == nil {
		return
	}
	rate := 0.0
	if s := time.Since(r.start).Seconds(); s > 0 {
		rate = float64(r.copied) / s
	}
	r.e.Progress(Progress{Phase: phase, Done: done, Total: total, Rate: rate})
}
