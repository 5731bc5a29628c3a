package users

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"scalelab/services/api/internal/cacheaside"
	"scalelab/services/platform"
)

// Get answers GET /users/{id}; with ?include=orders it also asks the
// orders server, in parallel, and composes both answers.
func (h *Handler) Get(w http.ResponseWriter, r *http.Request) {
	id, ok := h.pathID(w, r)
	if !ok {
		return
	}
	include := r.URL.Query().Get("include")
	if include != "" && (include != "orders" || h.orders == nil) {
		h.setShard(w, id)
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
	res, err := h.users.Read(r.Context(), id)
	<-ordersDone
	if include != "orders" {
		h.WriteRead(w, r, id, res, err)
		return
	}
	if h.writeMissing(w, r, id, res, err) {
		return
	}
	// The user is there even when the orders server is not: answer what we
	// have and say what is missing, rather than fail the whole page.
	var composed map[string]any
	if err := json.Unmarshal(res.Body, &composed); err != nil {
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

// ReadUser is GET /users/{id}'s read (without ?include): the cache-aside
// read, cache, trust and all. The api's hit path calls it, then WriteRead.
func (h *Handler) ReadUser(ctx context.Context, id int64) (cacheaside.Result, error) {
	return h.users.Read(ctx, id)
}

// WriteRead writes what GET /users/{id} (without ?include) answers for
// the read's result.
func (h *Handler) WriteRead(w http.ResponseWriter, r *http.Request, id int64, res cacheaside.Result, err error) {
	if h.writeMissing(w, r, id, res, err) {
		return
	}
	platform.WriteJSON(w, http.StatusOK, json.RawMessage(res.Body))
}

// writeMissing names the shard and the cache's result, and answers a read
// that found no user or failed; false when the user is there to answer.
func (h *Handler) writeMissing(w http.ResponseWriter, r *http.Request, id int64, res cacheaside.Result, err error) bool {
	w.Header().Set("X-Shard", strconv.Itoa(res.Shard))
	if err != nil {
		h.storeError(w, r, err)
		return true
	}
	w.Header().Set("X-Cache", res.Source)
	if !res.Found() {
		platform.WriteProblem(w, r, http.StatusNotFound, "no user with id "+strconv.FormatInt(id, 10))
		return true
	}
	return false
}
