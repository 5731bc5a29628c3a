// Package orders keeps orders on their own PostgreSQL server (pg-orders),
// apart from the user shards: the guide's vertical partitioning ("Users on
// server A, Orders on server B") made into an HTTP API.
//
// Splitting by table buys each table its own server (its own disk, memory,
// connections and failure) and costs what one server gave for free: no
// foreign key can reach the users, no transaction spans both, and no query
// can join them. The api pays instead: it asks the user's shard whether the
// user exists before it inserts an order, and it composes a user with
// their orders from two servers.
package orders

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"scalelab/services/api/internal/store"
)

//go:embed schema.sql
var Schema string

// Order is one row of the orders table.
type Order struct {
	ID          int64     `json:"id"`
	UserID      int64     `json:"user_id"`
	Item        string    `json:"item"`
	Quantity    int       `json:"quantity"`
	AmountCents int64     `json:"amount_cents"` // the order's total, in cents
	CreatedAt   time.Time `json:"created_at"`
}

// Bounds of a listing.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

var (
	// ErrUnavailable marks every failure of the orders server (down,
	// unreachable, too slow, not migrated): the api answers 503 "orders
	// database unavailable". Test with errors.Is.
	ErrUnavailable = errors.New("orders database unavailable")
	// ErrNotFound means the server holds no such order.
	ErrNotFound = errors.New("order not found")
)

// Options bound the pool so that a slow orders server cannot pile up work:
// the same bounds as a user shard's.
type Options = store.Options

// Store reads and writes orders on one server.
type Store struct {
	pool    *pgxpool.Pool
	timeout time.Duration
	queries *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

// Open creates a lazy pool: nothing is dialled until first use, so an
// orders server that is down at start fails only the requests that need it
// (users keep being served). Its metrics are registered on reg, if not nil.
func Open(dsn string, opts Options, reg prometheus.Registerer) (*Store, error) {
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 2 * time.Second
	}
	pool, err := store.NewPool(dsn, opts)
	if err != nil {
		return nil, fmt.Errorf("ORDERS_DSN: %v", err)
	}
	s := &Store{
		pool:    pool,
		timeout: opts.QueryTimeout,
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scalelab_api_orders_queries_total",
			Help: "Queries to the orders database by operation (create, list, get) and outcome (ok, not_found, error, canceled).",
		}, []string{"op", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scalelab_api_orders_query_duration_seconds",
			Help:    "Latency of queries to the orders database by operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"op"}),
	}
	// Every series exists from the start, at zero, so rates and alerts
	// see the first error instead of a series appearing out of nowhere.
	for _, op := range []string{"create", "list", "get"} {
		s.latency.WithLabelValues(op)
		for _, outcome := range []string{"ok", "error"} {
			s.queries.WithLabelValues(op, outcome)
		}
	}
	if reg != nil {
		reg.MustRegister(s.queries, s.latency)
	}
	return s, nil
}

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that the orders server answers, within the query timeout.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// Migrate applies the schema; it is idempotent. Replicas starting together
// may race on CREATE TABLE IF NOT EXISTS (PostgreSQL can then fail one with
// a duplicate pg_type key); the caller retries.
func (s *Store) Migrate(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, Schema); err != nil {
		return fmt.Errorf("%w: apply orders schema: %w", ErrUnavailable, err)
	}
	return nil
}

// Create inserts o, whose ID the caller has minted, and returns it as
// stored (with created_at). It does not check that the user exists: no
// server could, so the caller must (see Handler.Create).
func (s *Store) Create(ctx context.Context, o Order) (Order, error) {
	if o.ID <= 0 || o.UserID <= 0 {
		return Order{}, fmt.Errorf("orders: create: order id %d and user id %d must be positive", o.ID, o.UserID)
	}
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	stored, err := scanOrder(s.pool.QueryRow(qctx, `
		INSERT INTO orders (id, user_id, item, quantity, amount_cents) VALUES ($1, $2, $3, $4, $5)
		RETURNING id, user_id, item, quantity, amount_cents, created_at`,
		o.ID, o.UserID, o.Item, o.Quantity, o.AmountCents))
	return stored, s.observe(ctx, "create", start, err)
}

// ListByUser returns up to limit (1..MaxLimit) of the user's orders, newest
// first. Ids are minted time-ordered, so newest first is highest id first:
// one backwards range scan of the (user_id, id) index, no sort. The slice
// is never nil.
func (s *Store) ListByUser(ctx context.Context, userID int64, limit int) ([]Order, error) {
	if limit < 1 || limit > MaxLimit {
		return nil, fmt.Errorf("orders: limit %d is out of range [1, %d]", limit, MaxLimit)
	}
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	out := make([]Order, 0, min(limit, DefaultLimit))
	rows, err := s.pool.Query(qctx, `
		SELECT id, user_id, item, quantity, amount_cents, created_at
		FROM orders WHERE user_id = $1 ORDER BY id DESC LIMIT $2`, userID, limit)
	if err == nil {
		for rows.Next() {
			o, scanErr := scanOrder(rows)
			if scanErr != nil {
				err = scanErr
				break
			}
			out = append(out, o)
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err = s.observe(ctx, "list", start, err); err != nil {
		return nil, err
	}
	return out, nil
}

// Get reads one order of one user; ErrNotFound when the user has no order
// with that id.
func (s *Store) Get(ctx context.Context, userID, orderID int64) (Order, error) {
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()
	o, err := scanOrder(s.pool.QueryRow(qctx, `
		SELECT id, user_id, item, quantity, amount_cents, created_at
		FROM orders WHERE user_id = $1 AND id = $2`, userID, orderID))
	return o, s.observe(ctx, "get", start, err)
}

// scanOrder reads the order columns in the order every query selects them.
func scanOrder(row pgx.Row) (Order, error) {
	var o Order
	err := row.Scan(&o.ID, &o.UserID, &o.Item, &o.Quantity, &o.AmountCents, &o.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Order{}, ErrNotFound
	}
	return o, err
}

// observe times and counts one query and classifies its error: the
// caller's own cancellation is the caller's; data and constraint errors
// (SQLSTATE classes 22 and 23) are the request's; everything else (refused,
// reset, timed out, shutting down, no table) is the server being
// unavailable, which wraps ErrUnavailable.
func (s *Store) observe(ctx context.Context, op string, start time.Time, err error) error {
	s.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
	outcome := "ok"
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
	case errors.Is(err, ErrNotFound):
		outcome = "not_found"
	case ctx.Err() != nil:
		outcome = "canceled"
		err = fmt.Errorf("orders %s: %w (%w)", op, ctx.Err(), err)
	case errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")):
		outcome = "error"
		err = fmt.Errorf("orders %s: %w", op, err)
	default:
		outcome = "error"
		err = fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
	}
	s.queries.WithLabelValues(op, outcome).Inc()
	return err
}
