package shardmap

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

//go:embed catalog.sql
var catalogSchema string

// Channel is the LISTEN/NOTIFY channel a new map version is announced on.
const Channel = "scalelab_shard_map"

// DB is what the catalog functions need: a pool, a connection or a
// transaction.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ErrNoMap means the catalog holds no map yet.
var ErrNoMap = errors.New("shard map: the catalog holds no map")

// EnsureCatalog creates the catalog's tables; it is idempotent.
func EnsureCatalog(ctx context.Context, db DB) error {
	_, err := db.Exec(ctx, catalogSchema)
	return err
}

// Seed stores m as version 1 unless the catalog already holds a map, and
// returns the current map: SHARD_DSNS and SHARD_ROUTER only seed it.
func Seed(ctx context.Context, db DB, m Map) (Map, error) {
	if err := m.Validate(); err != nil {
		return Map{}, err
	}
	if _, err := db.Exec(ctx, `
		INSERT INTO shard_map (version, router, dsns) SELECT 1, $1, $2
		WHERE NOT EXISTS (SELECT 1 FROM shard_map) ON CONFLICT DO NOTHING`, m.Router, m.DSNs); err != nil {
		return Map{}, err
	}
	cur, _, err := Load(ctx, db)
	return cur, err
}

// Load returns the newest map and when it was published.
func Load(ctx context.Context, db DB) (Map, time.Time, error) {
	var m Map
	var at time.Time
	err := db.QueryRow(ctx, `SELECT version, router, dsns, created_at FROM shard_map ORDER BY version DESC LIMIT 1`).
		Scan(&m.Version, &m.Router, &m.DSNs, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return Map{}, at, ErrNoMap
	}
	if err == nil {
		err = m.Validate()
	}
	return m, at, err
}

// Publish stores m, which must be the version after the current one, and
// announces it; run it in the transaction that records why. Two publishers
// racing for one version collide on the primary key: one fails.
func Publish(ctx context.Context, tx DB, m Map) error {
	if err := m.Validate(); err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `
		INSERT INTO shard_map (version, router, dsns)
		SELECT $1, $2, $3 WHERE $1 = (SELECT coalesce(max(version), 0) + 1 FROM shard_map)`,
		m.Version, m.Router, m.DSNs)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("shard map: version %d is not the next one", m.Version)
	}
	_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, strconv.FormatInt(m.Version, 10))
	return err
}

// LoadVersion returns one version of the map.
func LoadVersion(ctx context.Context, db DB, version int64) (Map, error) {
	m := Map{Version: version}
	err := db.QueryRow(ctx, `SELECT router, dsns FROM shard_map WHERE version = $1`, version).Scan(&m.Router, &m.DSNs)
	if errors.Is(err, pgx.ErrNoRows) {
		return Map{}, fmt.Errorf("shard map: no version %d", version)
	}
	return m, err
}
