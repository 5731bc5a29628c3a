// Package users serves /users over a sharded store with a Redis cache in
// front of it: the guide's chapters 3 and 4 made into an HTTP API, with what
// the guide's ten-line cache-aside leaves out (stampedes, stale fills, a
// cache that dies) handled.
package users

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"scalelab/services/api/internal/cache"
	"scalelab/services/api/internal/flight"
	"scalelab/services/api/internal/store"
	"scalelab/services/platform"
)

// Strategy says how writes reach the cache.
type Strategy string

const (
	// CacheAside: reads fill the cache on a miss; writes invalidate.
	CacheAside Strategy = "cache-aside"
	// WriteThrough: reads fill on a miss too; writes set the new value.
	WriteThrough Strategy = "write-through"
	// NoCache: every read goes to the shard.
	NoCache Strategy = "none"
)

// ParseStrategy accepts the names of CACHE_STRATEGY.
func ParseStrategy(s string) (Strategy, error) {
	switch st := Strategy(s); st {
	case CacheAside, WriteThrough, NoCache:
		return st, nil
	}
	return "", fmt.Errorf("%q is not a cache strategy (cache-aside, write-through, none)", s)
}

// Breaker says whether the cache may be used now, and learns from results.
type Breaker interface {
	Allow() bool
	Success()
	Failure()
}

// Options tune the cache behaviour.
type Options struct {
	Strategy    Strategy
	TTL         time.Duration // lifetime of a cached user; up to 10% jitter is added
	NegativeTTL time.Duration // lifetime of a cached "no such user"
	LeaseWait   time.Duration // how long a miss waits for another reader's fill
	// TrustTTL is how long a shard's cache stays trusted without renewal,
	// and so how long a write whose invalidation failed waits before it is
	// acknowledged (see fence). ClockSkew is added to that wait: the most
	// the clocks of the api hosts and Redis may disagree.
	TrustTTL  time.Duration
	ClockSkew time.Duration
}

// absent is how "no such user" is cached: JSON null, never a user.
var absent = []byte("null")

// IDs mints user ids that are unique across replicas and shards without
// asking anyone (idgen's Snowflake layout).
type IDs interface{ Next() (int64, error) }

// Handler serves users.
type Handler struct {
	store   *store.Store
	ids     IDs
	cache   *cache.Cache
	breaker Breaker
	opts    Options
	logger  *slog.Logger
	flight  flight.Group[result]
	fence   *fence
	orders  OrdersFunc
	m       metrics
}

// NewHandler builds the users handler; its metrics are registered on reg.
// Until ctx ends it delivers failed invalidations and renews the cache's
// trust in the background (see fence).
func NewHandler(ctx context.Context, st *store.Store, c *cache.Cache, b Breaker, ids IDs, opts Options, logger *slog.Logger, reg prometheus.Registerer) *Handler {
	h := &Handler{store: st, ids: ids, cache: c, breaker: b, opts: opts, logger: logger, m: newMetrics(reg)}
	if opts.Strategy != NoCache {
		h.fence = newFence(st, c, b, opts.TrustTTL, logger, reg)
		go h.fence.run(ctx)
	}
	return h
}

// TrustCache renews the cache's trust now, rather than at the next tick:
// called once the schema exists, so that the first reads can use Redis.
func (h *Handler) TrustCache(ctx context.Context) {
	if h.fence != nil {
		h.fence.tick(ctx)
	}
}

// trustKey names the trust of id's shard under the current shard map.
func (h *Handler) trustKey(id int64) string { return h.store.TrustKey(id) }

// result is a user read: its JSON (or absent), and where it came from.
type result struct {
	body   []byte
	xcache string // HIT, MISS or BYPASS
}

func (r result) found() bool { return string(r.body) != string(absent) }

// Get answers GET /users/{id}; with ?include=orders it also asks the
// orders server, in parallel, and composes both answers.
func (h *Handler) Get(w http.ResponseWriter, r *http.Request) {
	id, ok := h.pathID(w, r)
	if !ok {
		return
	}
	include := r.URL.Query().Get("include")
	if include != "" && (include != "orders" || h.orders == nil) {
		platform.WriteProblem(w, r, http.StatusBadRequest, "include may only be \"orders\"")
		return
	}
	var orders any
	var ordersErr error
	ordersDone := make(chan struct{})
	if include == "orders" {
		// Vertical partitioning: the orders live on another server, so
		// the two reads go out together and cost the slower of the two.
		go func() {
			defer close(ordersDone)
			orders, ordersErr = h.orders(r.Context(), id)
		}()
	} else {
		close(ordersDone)
	}
	res, err := h.read(r.Context(), id)
	<-ordersDone
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	w.Header().Set("X-Cache", res.xcache)
	if !res.found() {
		platform.WriteProblem(w, r, http.StatusNotFound, "no user with id "+strconv.FormatInt(id, 10))
		return
	}
	if include != "orders" {
		platform.WriteJSON(w, http.StatusOK, json.RawMessage(res.body))
		return
	}
	// The user is there even when the orders server is not: answer what we
	// have and say what is missing, rather than fail the whole page.
	var composed map[string]any
	if err := json.Unmarshal(res.body, &composed); err != nil {
		h.storeError(w, r, err)
		return
	}
	composed["orders"] = orders
	if ordersErr != nil {
		h.logger.Warn("orders for a user failed", "request_id", platform.RequestID(r.Context()), "user", id, "err", ordersErr)
		composed["orders"] = nil
		composed["orders_error"] = ordersErr.Error()
	}
	body, _ := json.Marshal(composed)
	platform.WriteJSON(w, http.StatusOK, json.RawMessage(body))
}

// OrdersFunc returns a user's recent orders (from the orders server).
type OrdersFunc func(ctx context.Context, userID int64) (any, error)

// SetOrders enables ?include=orders.
func (h *Handler) SetOrders(f OrdersFunc) { h.orders = f }

// Exists reports whether a user exists, through the cache like any read:
// what the orders ask before they take an order for a user id.
func (h *Handler) Exists(ctx context.Context, id int64) (bool, error) {
	_, ok, err := h.Name(ctx, id)
	return ok, err
}

// Name returns a user's name through the cache, and whether the user
// exists. A failing shard is named in the error, which callers show.
func (h *Handler) Name(ctx context.Context, id int64) (string, bool, error) {
	res, err := h.read(ctx, id)
	var se *store.ShardError
	switch {
	case errors.As(err, &se):
		return "", false, fmt.Errorf("shard %d is unavailable", se.Shard)
	case err != nil:
		return "", false, err
	case !res.found():
		return "", false, nil
	}
	var u store.User
	if err := json.Unmarshal(res.body, &u); err != nil {
		return "", false, err
	}
	return u.Name, true, nil
}

// useCache says whether reads may use Redis now: not when the strategy is
// none, and not while the breaker is open. (Whether what Redis holds for a
// shard may be believed is the trust's business, checked with each read.)
func (h *Handler) useCache() bool {
	return h.opts.Strategy != NoCache && h.breaker.Allow()
}

// observe reports a Redis call's outcome to the breaker.
func (h *Handler) observe(err error) {
	if err == nil || errors.Is(err, cache.ErrMiss) || errors.Is(err, cache.ErrUntrusted) {
		h.breaker.Success()
	} else {
		h.breaker.Failure()
	}
}

// read is cache-aside's read: the cache, then on a miss one load shared by
// every concurrent miss of this replica.
func (h *Handler) read(ctx context.Context, id int64) (result, error) {
	key := cache.Key("user", id)
	if !h.useCache() {
		h.m.cache.WithLabelValues("get", "bypass").Inc()
		return h.sharedShardRead(ctx, id, key)
	}
	b, err := h.cache.Get(ctx, h.trustKey(id), key)
	h.observe(err)
	switch {
	case err == nil && string(b) == string(absent):
		h.m.cache.WithLabelValues("get", "negative_hit").Inc()
		return result{b, "HIT"}, nil
	case err == nil:
		h.m.cache.WithLabelValues("get", "hit").Inc()
		return result{b, "HIT"}, nil
	case errors.Is(err, cache.ErrMiss):
		h.m.cache.WithLabelValues("get", "miss").Inc()
	case errors.Is(err, cache.ErrUntrusted):
		h.m.cache.WithLabelValues("get", "untrusted").Inc()
		return h.sharedShardRead(ctx, id, key)
	default:
		h.m.cache.WithLabelValues("get", "error").Inc()
		h.logger.Warn("cache get failed; reading the shard", "request_id", platform.RequestID(ctx), "err", err)
		return h.sharedShardRead(ctx, id, key)
	}

	return h.share(ctx, key, func(ctx context.Context) (result, error) { return h.load(ctx, id, key) })
}

// share runs fn once for every concurrent caller with the same key on this
// replica (package flight: never a run that began before the caller came,
// which would be a stale read). The run serves every waiter, so it does
// not die with the first caller's request; the store's own timeout still
// bounds it.
func (h *Handler) share(ctx context.Context, key string, fn func(context.Context) (result, error)) (result, error) {
	res, err, shared := h.flight.Do(ctx, key, fn)
	if shared {
		h.m.shared.Inc()
	}
	return res, err
}

// load fills key for a miss. Only the holder of the lease reads the shard
// and fills; the others (on other replicas) wait briefly for its value.
func (h *Handler) load(ctx context.Context, id int64, key string) (result, error) {
	waitUntil := time.Now().Add(h.opts.LeaseWait)
	var token string
	for {
		var leased bool
		var err error
		token, leased, err = h.cache.Lease(ctx, key)
		h.observe(err)
		if err != nil {
			h.m.cache.WithLabelValues("lease", "error").Inc()
			body, _, err := h.readShard(ctx, id)
			return result{body, "BYPASS"}, err
		}
		if leased {
			break
		}
		b, outcome := h.awaitFill(ctx, id, key, waitUntil)
		h.m.leaseWaits.WithLabelValues(outcome).Inc()
		switch outcome {
		case "filled":
			return result{b, "HIT"}, nil
		case "released":
			// The lease went without a value: a write removed it (or its
			// holder failed). On a key written often this is the rule, and
			// waiting out LeaseWait for a fill that cannot come would make
			// every read of it slow: take the lease ourselves.
			continue
		}
		// The holder is slow or gone: read the shard, but leave the fill
		// to the lease holder.
		body, _, err := h.readShard(ctx, id)
		return result{body, "MISS"}, err
	}

	// The previous holder may have filled the key between our miss and our
	// lease: look again before paying for a shard read.
	if b, err := h.cache.Get(ctx, h.trustKey(id), key); err == nil {
		h.observe(h.cache.Release(ctx, key, token))
		return result{b, "HIT"}, nil
	}

	body, version, err := h.readShard(ctx, id)
	if err != nil {
		h.observe(h.cache.Release(ctx, key, token))
		return result{}, err
	}
	ttl := jitter(h.opts.TTL)
	if string(body) == string(absent) {
		ttl = h.opts.NegativeTTL
	}
	stored, err := h.cache.Fill(ctx, h.trustKey(id), key, token, version, body, ttl)
	h.observe(err)
	switch {
	case err != nil:
		h.m.cache.WithLabelValues("fill", "error").Inc()
		h.logger.Warn("cache fill failed", "request_id", platform.RequestID(ctx), "err", err)
	case stored:
		h.m.cache.WithLabelValues("fill", "stored").Inc()
	default:
		// A write came between our read and our fill: what we read may
		// be older than it, so it must not be cached. It is still a
		// correct answer for this request, which began before the write.
		// (Or the shard's cache is not trusted now: nothing may be filled.)
		h.m.cache.WithLabelValues("fill", "refused").Inc()
	}
	return result{body, "MISS"}, nil
}

// awaitFill polls for the value another reader is filling, until the
// deadline. Its outcome: "filled" (the value is there), "released" (the
// lease is gone and no value came), or "timeout" (also when Redis fails
// or stops trusting the shard meanwhile).
func (h *Handler) awaitFill(ctx context.Context, id int64, key string, deadline time.Time) ([]byte, string) {
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, "timeout"
		case <-time.After(5 * time.Millisecond):
		}
		b, leased, err := h.cache.Peek(ctx, h.trustKey(id), key)
		h.observe(err)
		switch {
		case err == nil && b != nil:
			return b, "filled"
		case err == nil && !leased:
			return nil, "released"
		case err != nil:
			return nil, "timeout"
		}
	}
	return nil, "timeout"
}

// sharedShardRead reads the shard when the cache cannot be used; while
// Redis is in trouble, concurrent reads of one user on this replica still
// cost one query, not one each.
func (h *Handler) sharedShardRead(ctx context.Context, id int64, key string) (result, error) {
	return h.share(ctx, "bypass:"+key, func(ctx context.Context) (result, error) {
		body, _, err := h.readShard(ctx, id)
		return result{body, "BYPASS"}, err
	})
}

// readShard reads the user from its shard, as its JSON or absent, with the
// version under which that answer may be cached.
func (h *Handler) readShard(ctx context.Context, id int64) (body []byte, version int64, err error) {
	u, version, err := h.store.Get(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return absent, version, nil
	case err != nil:
		return nil, 0, err
	}
	body, _ = json.Marshal(u)
	return body, version, nil
}

// Put answers PUT /users/{id}: write the shard, then the cache.
func (h *Handler) Put(w http.ResponseWriter, r *http.Request) {
	id, ok := h.pathID(w, r)
	if !ok {
		return
	}
	req, status, err := ParsePut(r, w)
	if err != nil {
		platform.WriteProblem(w, r, status, err.Error())
		return
	}
	body, created, err := h.save(r.Context(), id, req)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	platform.WriteJSON(w, code, json.RawMessage(body))
}

// Create answers POST /users: the replica mints the id itself, so creating
// users needs no coordination between replicas or shards.
func (h *Handler) Create(w http.ResponseWriter, r *http.Request) {
	req, status, err := ParsePut(r, w)
	if err != nil {
		platform.WriteProblem(w, r, status, err.Error())
		return
	}
	id, err := h.ids.Next()
	if err != nil {
		h.logger.Error("minting an id failed", "request_id", platform.RequestID(r.Context()), "err", err)
		platform.WriteProblem(w, r, http.StatusServiceUnavailable, "cannot mint an id now: "+err.Error())
		return
	}
	w.Header().Set("X-Shard", strconv.Itoa(h.store.ShardOf(id)))
	body, _, err := h.save(r.Context(), id, req)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/users/"+strconv.FormatInt(id, 10))
	platform.WriteJSON(w, http.StatusCreated, json.RawMessage(body))
}

// save writes a user to its shard, then brings the cache in line, and
// returns the stored user's JSON.
func (h *Handler) save(ctx context.Context, id int64, req putRequest) ([]byte, bool, error) {
	u, created, err := h.store.Put(ctx, store.User{ID: id, Name: req.Name, Email: req.Email})
	if err != nil {
		return nil, false, err
	}
	body, _ := json.Marshal(u)
	if err := h.afterWrite(ctx, id, u.Version, body, jitter(h.opts.TTL)); err != nil {
		return nil, false, err
	}
	return body, created, nil
}

// Delete answers DELETE /users/{id}.
func (h *Handler) Delete(w http.ResponseWriter, r *http.Request) {
	id, ok := h.pathID(w, r)
	if !ok {
		return
	}
	version, err := h.store.Delete(r.Context(), id)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	if err := h.afterWrite(r.Context(), id, version, absent, h.opts.NegativeTTL); err != nil {
		h.storeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// afterWrite brings the cache in line with a write the shard has committed:
// cache-aside removes the entry (and any reader's lease, so no older read
// can fill it back); write-through sets the new value unless a newer one is
// there. The write is durable whatever happens here, so a Redis failure is
// not the client's: the invalidation is queued in the shard's outbox, and
// the answer waits until no replica can trust Redis for that shard any more
// (see fence). It fails only if the outbox cannot be written either.
func (h *Handler) afterWrite(ctx context.Context, id, version int64, body []byte, ttl time.Duration) error {
	if h.opts.Strategy == NoCache {
		return nil
	}
	key := cache.Key("user", id)
	// The client hanging up must not leave a stale copy behind.
	detached := context.WithoutCancel(ctx)
	var err error
	if h.opts.Strategy == WriteThrough {
		var stored bool
		stored, err = h.cache.SetVersioned(detached, key, version, body, ttl)
		if err == nil {
			h.m.cache.WithLabelValues("set", map[bool]string{true: "stored", false: "refused"}[stored]).Inc()
		}
	} else {
		err = h.cache.Invalidate(detached, key)
		if err == nil {
			h.m.cache.WithLabelValues("invalidate", "ok").Inc()
		}
	}
	h.observe(err)
	if err == nil {
		return nil
	}
	h.m.cache.WithLabelValues("invalidate", "error").Inc()
	h.logger.Warn("cache update after a write failed; queued in the outbox",
		"request_id", platform.RequestID(ctx), "key", key, "err", err)
	if err := h.store.QueueInvalidation(detached, store.Invalidation{UserID: id, Version: version}); err != nil {
		return fmt.Errorf("the write is saved, but its cache entry can be neither removed nor queued: %w", err)
	}
	start := time.Now()
	select {
	case <-time.After(h.opts.TrustTTL + h.opts.ClockSkew):
	case <-ctx.Done(): // nobody is waiting for the answer any more
	}
	h.m.fenceWait.Observe(time.Since(start).Seconds())
	return nil
}

func (h *Handler) pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := ParseID(r.PathValue("id"))
	if err != nil {
		platform.WriteProblem(w, r, http.StatusBadRequest, err.Error())
		return 0, false
	}
	w.Header().Set("X-Shard", strconv.Itoa(h.store.ShardOf(id)))
	return id, true
}

func (h *Handler) storeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrNotFound) {
		platform.WriteProblem(w, r, http.StatusNotFound, "no user with id "+r.PathValue("id"))
		return
	}
	if r.Context().Err() != nil {
		platform.SetStatus(w, 499) // the client left; nobody reads an answer
		return
	}
	var se *store.ShardError
	if errors.As(err, &se) {
		h.logger.Error("shard failed", "request_id", platform.RequestID(r.Context()), "shard", se.Shard, "err", se.Err)
		platform.WriteProblem(w, r, http.StatusServiceUnavailable, fmt.Sprintf("shard %d is unavailable", se.Shard))
		return
	}
	h.logger.Error("store failed", "request_id", platform.RequestID(r.Context()), "err", err)
	platform.WriteProblem(w, r, http.StatusInternalServerError, "internal error")
}

// jitter adds up to 10% to a TTL, so that keys cached together do not all
// expire together (and stampede together).
func jitter(ttl time.Duration) time.Duration {
	return ttl + time.Duration(rand.Int64N(int64(ttl)/10+1))
}
