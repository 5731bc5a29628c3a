package users

import (
	"encoding/json"
	"net/http"
	"strconv"

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
	w.Header().Set("X-Shard", strconv.Itoa(res.Shard))
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	w.Header().Set("X-Cache", res.Source)
	if !res.Found() {
		platform.WriteProblem(w, r, http.StatusNotFound, "no user with id "+strconv.FormatInt(id, 10))
		return
	}
	if include != "orders" {
		platform.WriteJSON(w, http.StatusOK, json.RawMessage(res.Body))
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
