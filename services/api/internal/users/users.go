// Package users serves /users over a sharded store with a cache-aside cache
// in front of it: the guide's chapter 3 and 4 made into an HTTP API.
package users

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"scalelab/services/api/internal/cache"
	"scalelab/services/api/internal/store"
	"scalelab/services/platform"
)

// MaxBodyBytes bounds a PUT body: a user is a few hundred bytes.
const MaxBodyBytes = 64 << 10

// Handler serves users with cache-aside reads and invalidating writes.
type Handler struct {
	store   *store.Store
	cache   *cache.Cache
	ttl     time.Duration
	logger  *slog.Logger
	lookups *prometheus.CounterVec
}

// NewHandler builds the users handler; lookups are counted on reg.
func NewHandler(st *store.Store, c *cache.Cache, ttl time.Duration, logger *slog.Logger, reg prometheus.Registerer) *Handler {
	h := &Handler{store: st, cache: c, ttl: ttl, logger: logger,
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scalelab_api_cache_requests_total",
			Help: "Cache lookups by operation and result (hit, miss, error).",
		}, []string{"op", "result"}),
	}
	reg.MustRegister(h.lookups)
	return h
}

func cacheKey(id int64) string { return "user:" + strconv.FormatInt(id, 10) }

// ParseID accepts a decimal id in [1, 2^63-1] with no sign, spaces or
// leading zeros, so that each user has exactly one spelling (and one cache
// key and one shard).
func ParseID(s string) (int64, error) {
	if s == "" || len(s) > 19 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("id %q must be a positive decimal integer without leading zeros", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("id %q must be a positive decimal integer", s)
		}
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, fmt.Errorf("id %q is out of range [1, %d]", s, int64(1<<63-1))
	}
	return id, nil
}

// Get answers GET /users/{id}: cache, then on a miss the shard, then a
// cache set with the TTL.
func (h *Handler) Get(w http.ResponseWriter, r *http.Request) {
	id, err := ParseID(r.PathValue("id"))
	if err != nil {
		platform.WriteProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("X-Shard", strconv.Itoa(h.store.ShardOf(id)))

	// 1. Ask the cache. A cache error is not the client's problem: count
	// it, log it and read the database as on a miss.
	body, err := h.cache.Get(r.Context(), cacheKey(id))
	switch {
	case err == nil:
		h.lookups.WithLabelValues("get", "hit").Inc()
		writeJSON(w, http.StatusOK, "HIT", body)
		return
	case errors.Is(err, cache.ErrMiss):
		h.lookups.WithLabelValues("get", "miss").Inc()
	default:
		h.lookups.WithLabelValues("get", "error").Inc()
		h.logger.Warn("cache get failed; reading the shard", "request_id", platform.RequestID(r.Context()), "err", err)
	}

	// 2. Read the shard that owns the id.
	u, err := h.store.Get(r.Context(), id)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	body, _ = json.Marshal(u)

	// 3. Fill the cache for the next reader; a failure only costs the next
	// reader a miss.
	if err := h.cache.Set(r.Context(), cacheKey(id), body, h.ttl); err != nil {
		h.logger.Warn("cache set failed", "request_id", platform.RequestID(r.Context()), "err", err)
	}
	writeJSON(w, http.StatusOK, "MISS", body)
}

// putRequest is the body of PUT /users/{id}.
type putRequest struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// ParsePut decodes and validates a PUT body: one JSON object, known fields
// only, a non-empty name.
func ParsePut(r *http.Request, w http.ResponseWriter) (putRequest, int, error) {
	var req putRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return req, http.StatusRequestEntityTooLarge, fmt.Errorf("body is larger than %d bytes", MaxBodyBytes)
		}
		return req, http.StatusBadRequest, fmt.Errorf("body must be a JSON object like {\"name\":\"Ada\"}: %v", err)
	}
	if dec.More() {
		return req, http.StatusBadRequest, errors.New("body must hold exactly one JSON object")
	}
	req.Name = strings.TrimSpace(req.Name)
	switch {
	case req.Name == "":
		return req, http.StatusBadRequest, errors.New("name is required")
	case len(req.Name) > 200:
		return req, http.StatusBadRequest, errors.New("name is longer than 200 bytes")
	case len(req.Email) > 320:
		return req, http.StatusBadRequest, errors.New("email is longer than 320 bytes")
	}
	return req, 0, nil
}

// Put answers PUT /users/{id}: write the shard, then invalidate the cache,
// so the next read loads the new row.
func (h *Handler) Put(w http.ResponseWriter, r *http.Request) {
	id, err := ParseID(r.PathValue("id"))
	if err != nil {
		platform.WriteProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("X-Shard", strconv.Itoa(h.store.ShardOf(id)))
	req, status, err := ParsePut(r, w)
	if err != nil {
		platform.WriteProblem(w, r, status, err.Error())
		return
	}
	u, created, err := h.store.Put(r.Context(), store.User{ID: id, Name: req.Name, Email: req.Email})
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	// The write is durable; now drop the cached copy. Use a context that
	// survives the client hanging up, or a stale copy could outlive the write.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Second)
	defer cancel()
	if err := h.cache.Delete(ctx, cacheKey(id)); err != nil {
		h.lookups.WithLabelValues("invalidate", "error").Inc()
		h.logger.Error("cache invalidation failed; the cached copy expires with its TTL",
			"request_id", platform.RequestID(r.Context()), "user", id, "err", err)
	}
	body, _ := json.Marshal(u)
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	writeJSON(w, code, "", body)
}

func (h *Handler) storeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrNotFound) {
		platform.WriteProblem(w, r, http.StatusNotFound, "no user with id "+r.PathValue("id"))
		return
	}
	var se *store.ShardError
	if errors.As(err, &se) {
		h.logger.Error("shard failed", "request_id", platform.RequestID(r.Context()), "shard", se.Shard, "err", se.Err)
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			platform.SetStatus(w, 499)
			return
		}
		platform.WriteProblem(w, r, http.StatusServiceUnavailable, fmt.Sprintf("shard %d is unavailable", se.Shard))
		return
	}
	h.logger.Error("store failed", "request_id", platform.RequestID(r.Context()), "err", err)
	platform.WriteProblem(w, r, http.StatusInternalServerError, "internal error")
}

func writeJSON(w http.ResponseWriter, status int, cacheResult string, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	if cacheResult != "" {
		w.Header().Set("X-Cache", cacheResult)
	}
	w.WriteHeader(status)
	w.Write(body)
	w.Write([]byte("\n"))
}
