package shardmap

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Phases of a reshard, in order. A reshard records its phase in the catalog
// before doing the phase's work, so that one run again after a crash knows
// where to take up.
const (
	PhaseCopy    = "copy"    // moving rows copied to their new shard, traffic flowing
	PhaseCatchUp = "catchup" // writes made meanwhile copied again, from the change table
	PhaseCutover = "cutover" // writes paused: last changes, verification, flip
	PhaseFlipped = "flipped" // the new map is published; writes resume on it
	PhaseCleanup = "cleanup" // the old copies removed from their old shards
	PhaseDone    = "done"
)

// Phases lists them in order, for metrics.
var Phases = []string{PhaseCopy, PhaseCatchUp, PhaseCutover, PhaseFlipped, PhaseCleanup, PhaseDone}

// State is the catalog's record of the latest reshard.
type State struct {
	FromVersion int64
	To          Map // its Version is FromVersion+1
	Phase       string
	Cursors     []int64 // per old shard: the copy's last id
	RowsTotal   int64   // rows on the old shards when the copy began
	RowsCopied  int64   // rows the copy has read so far
	RowsMoving  int64   // of them, rows that move
	Verified    string  // "" (not yet), "ok", or what differed
	Pause       time.Duration
	Started     time.Time
	Updated     time.Time
	// The cut-over's write freeze, as the catalog records it (lease.go):
	// Frozen while a freeze is held, FreezeLeft until its lease's deadline
	// (negative once past it and not yet released).
	Frozen     bool
	FreezeLeft time.Duration
}

// ErrNoReshard means no reshard was ever recorded.
var ErrNoReshard = errors.New("no reshard recorded")

// LoadState returns the latest reshard's state.
func LoadState(ctx context.Context, db DB) (State, error) {
	var s State
	var pauseMS, leftUS int64
	err := db.QueryRow(ctx, `
		SELECT from_version, to_router, to_dsns, phase, cursors, rows_total, rows_copied,
			rows_moving, verified, pause_ms, started_at, updated_at, freeze_until IS NOT NULL,
			coalesce((extract(epoch FROM freeze_until - clock_timestamp()) * 1e6)::bigint, 0)
		FROM reshard WHERE id = 1`).
		Scan(&s.FromVersion, &s.To.Router, &s.To.DSNs, &s.Phase, &s.Cursors, &s.RowsTotal, &s.RowsCopied,
			&s.RowsMoving, &s.Verified, &pauseMS, &s.Started, &s.Updated, &s.Frozen, &leftUS)
	if errors.Is(err, pgx.ErrNoRows) {
		return State{}, ErrNoReshard
	}
	s.To.Version = s.FromVersion + 1
	s.Pause = time.Duration(pauseMS) * time.Millisecond
	s.FreezeLeft = time.Duration(leftUS) * time.Microsecond
	return s, err
}

// SaveState records s, replacing the previous reshard's record.
func SaveState(ctx context.Context, db DB, s State) error {
	_, err := db.Exec(ctx, `
		INSERT INTO reshard (id, from_version, to_router, to_dsns, phase, cursors, rows_total,
			rows_copied, rows_moving, verified, pause_ms, started_at, updated_at)
		VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, clock_timestamp())
		ON CONFLICT (id) DO UPDATE SET from_version = $1, to_router = $2, to_dsns = $3, phase = $4,
			cursors = $5, rows_total = $6, rows_copied = $7, rows_moving = $8, verified = $9,
			pause_ms = $10, started_at = $11, updated_at = clock_timestamp()`,
		s.FromVersion, s.To.Router, s.To.DSNs, s.Phase, s.Cursors, s.RowsTotal, s.RowsCopied,
		s.RowsMoving, s.Verified, s.Pause.Milliseconds(), s.Started)
	return err
}

// Active reports whether the reshard is between its start and its end.
func (s State) Active() bool { return s.Phase != "" && s.Phase != PhaseDone }
