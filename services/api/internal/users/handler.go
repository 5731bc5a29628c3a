// Package users serves /users over HTTP: the guide's chapters 3 and 4 made
// into an API. It parses requests and writes answers; reading and writing
// through the cache is package cacheaside's.
package users

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"scalelab/services/api/internal/cacheaside"
	"scalelab/services/api/internal/store"
	"scalelab/services/platform"
)

// IDs mints user ids that are unique across replicas and shards without
// asking anyone (idgen's Snowflake layout).
type IDs interface{ Next() (int64, error) }

// OrdersFunc returns a user's recent orders (from the orders server).
type OrdersFunc func(ctx context.Context, userID int64) (any, error)

// Handler serves users.
type Handler struct {
	users  *cacheaside.Users
	ids    IDs
	logger *slog.Logger
	orders OrdersFunc
}

// NewHandler builds the users handler over u.
func NewHandler(u *cacheaside.Users, ids IDs, logger *slog.Logger) *Handler {
	return &Handler{users: u, ids: ids, logger: logger}
}

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
	res, err := h.users.Read(ctx, id)
	var se *store.ShardError
	switch {
	case errors.As(err, &se):
		return "", false, fmt.Errorf("shard %d is unavailable", se.Shard)
	case err != nil:
		return "", false, err
	case !res.Found():
		return "", false, nil
	}
	var u store.User
	if err := json.Unmarshal(res.Body, &u); err != nil {
		return "", false, err
	}
	return u.Name, true, nil
}

// Put answers PUT /users/{id}: write the shard, then the cache.
func (h *Handler) Put(w http.ResponseWriter, r *http.Request) {
	id, ok := h.pathID(w, r)
	if !ok {
		return
	}
	h.setShard(w, id)
	req, status, err := ParsePut(r, w)
	if err != nil {
		platform.WriteProblem(w, r, status, err.Error())
		return
	}
	body, created, err := h.users.Save(r.Context(), store.User{ID: id, Name: req.Name, Email: req.Email})
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
	h.setShard(w, id)
	body, _, err := h.users.Save(r.Context(), store.User{ID: id, Name: req.Name, Email: req.Email})
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/users/"+strconv.FormatInt(id, 10))
	platform.WriteJSON(w, http.StatusCreated, json.RawMessage(body))
}

// Delete answers DELETE /users/{id}.
func (h *Handler) Delete(w http.ResponseWriter, r *http.Request) {
	id, ok := h.pathID(w, r)
	if !ok {
		return
	}
	h.setShard(w, id)
	if err := h.users.Delete(r.Context(), id); err != nil {
		h.storeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := ParseID(r.PathValue("id"))
	if err != nil {
		platform.WriteProblem(w, r, http.StatusBadRequest, err.Error())
		return 0, false
	}
	return id, true
}

// setShard names the user's shard in X-Shard, on every answer about it.
func (h *Handler) setShard(w http.ResponseWriter, id int64) {
	w.Header().Set("X-Shard", strconv.Itoa(h.users.ShardOf(id)))
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
		status, msg := shardProblem(se)
		platform.WriteProblem(w, r, status, msg)
		return
	}
	h.logger.Error("store failed", "request_id", platform.RequestID(r.Context()), "err", err)
	platform.WriteProblem(w, r, http.StatusInternalServerError, "internal error")
}

// shardProblem is the answer for a shard that failed. A shard that did not
// answer within DB_TIMEOUT gets a 504, which a balancer does not retry: on
// another replica the same shard would make the client wait as long again.
// Any other failure is a 503 (a refused connection, the shard's breaker
// open: fast, so a balancer's retry elsewhere costs little).
func shardProblem(se *store.ShardError) (int, string) {
	switch {
	case errors.Is(se.Err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, fmt.Sprintf("shard %d did not answer in time (DB_TIMEOUT)", se.Shard)
	case errors.Is(se.Err, store.ErrShardDown):
		return http.StatusServiceUnavailable, fmt.Sprintf("shard %d is unavailable: %v", se.Shard, store.ErrShardDown)
	}
	return http.StatusServiceUnavailable, fmt.Sprintf("shard %d is unavailable", se.Shard)
}
