package orders

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"scalelab/services/platform"
)

// IDs mints order ids that are unique across replicas without asking
// anyone (idgen's Snowflake layout), and time-ordered, which ListByUser's
// newest-first order relies on.
type IDs interface{ Next() (int64, error) }

// Handler serves a user's orders.
type Handler struct {
	store      *Store
	ids        IDs
	userExists func(ctx context.Context, id int64) (bool, error)
	parseID    func(string) (int64, error)
	logger     *slog.Logger
}

// NewHandler builds the orders handler.
//
// userExists asks the user's shard whether the user exists: it is the
// foreign key the orders server cannot have. When it fails, its error's
// text is shown to the client in the 503, so it should name what failed
// and nothing more (e.g. "shard 2 is unavailable").
//
// parseID validates the ids in the path ({id}, {orderID}), so that users
// and orders accept exactly the same spellings (pass users.ParseID).
func NewHandler(st *Store, ids IDs, userExists func(ctx context.Context, id int64) (bool, error), parseID func(string) (int64, error), logger *slog.Logger) *Handler {
	return &Handler{store: st, ids: ids, userExists: userExists, parseID: parseID, logger: logger}
}

// Create answers POST /users/{id}/orders.
func (h *Handler) Create(w http.ResponseWriter, r *http.Request) {
	userID, ok := h.pathID(w, r, "id")
	if !ok {
		return
	}
	req, status, err := ParseOrder(r, w)
	if err != nil {
		platform.WriteProblem(w, r, status, err.Error())
		return
	}
	// No foreign key can reach the users' servers, so the check is ours.
	// It is not atomic with the insert: a user deleted in between leaves
	// an orphan order, as it would with any cross-server check.
	if !h.checkUser(w, r, userID) {
		return
	}
	id, err := h.ids.Next()
	if err != nil {
		h.logger.Error("minting an order id failed", "request_id", platform.RequestID(r.Context()), "err", err)
		platform.WriteProblem(w, r, http.StatusServiceUnavailable, "cannot mint an id now: "+err.Error())
		return
	}
	o, err := h.store.Create(r.Context(), Order{
		ID: id, UserID: userID, Item: req.Item, Quantity: req.Quantity, AmountCents: req.AmountCents,
	})
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	w.Header().Set("Location", orderPath(userID, o.ID))
	platform.WriteJSON(w, http.StatusCreated, o)
}

// listResponse is the body of GET /users/{id}/orders.
type listResponse struct {
	UserID int64   `json:"user_id"`
	Orders []Order `json:"orders"`
}

// List answers GET /users/{id}/orders?limit=N, newest first.
//
// It reads the orders server first and asks the user's shard only when
// there are no orders: an order proves its user was created, so a user
// with orders is listed even while their shard is down, and only "no
// orders" needs the shard to tell an unknown user (404) from a new one.
// The flip side of having no foreign key: a deleted user's orders are
// still listed.
func (h *Handler) List(w http.ResponseWriter, r *http.Request) {
	userID, ok := h.pathID(w, r, "id")
	if !ok {
		return
	}
	limit, err := ParseLimit(r.URL.Query())
	if err != nil {
		platform.WriteProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	list, err := h.store.ListByUser(r.Context(), userID, limit)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	if len(list) == 0 && !h.checkUser(w, r, userID) {
		return
	}
	platform.WriteJSON(w, http.StatusOK, listResponse{UserID: userID, Orders: list})
}

// Get answers GET /users/{id}/orders/{orderID}, where Create's Location
// points.
func (h *Handler) Get(w http.ResponseWriter, r *http.Request) {
	userID, ok := h.pathID(w, r, "id")
	if !ok {
		return
	}
	orderID, ok := h.pathID(w, r, "orderID")
	if !ok {
		return
	}
	o, err := h.store.Get(r.Context(), userID, orderID)
	if errors.Is(err, ErrNotFound) {
		platform.WriteProblem(w, r, http.StatusNotFound, fmt.Sprintf("user %d has no order %d", userID, orderID))
		return
	}
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	platform.WriteJSON(w, http.StatusOK, o)
}

// ForUser returns up to limit (1..MaxLimit) of the user's orders, newest
// first, never a nil slice, for composing a user with their orders. It
// does not check that the user exists; the caller has just read them. Its
// errors wrap ErrUnavailable when the orders server failed.
func (h *Handler) ForUser(ctx context.Context, userID int64, limit int) ([]Order, error) {
	return h.store.ListByUser(ctx, userID, limit)
}

// checkUser answers 404 for an unknown user and 503 when the user's shard
// cannot tell; it reports whether the request may go on.
func (h *Handler) checkUser(w http.ResponseWriter, r *http.Request, userID int64) bool {
	exists, err := h.userExists(r.Context(), userID)
	switch {
	case err != nil && r.Context().Err() != nil:
		platform.SetStatus(w, 499) // the client left; nobody reads an answer
		return false
	case err != nil:
		h.logger.Error("checking that the user exists failed", "request_id", platform.RequestID(r.Context()),
			"user_id", userID, "err", err)
		platform.WriteProblem(w, r, http.StatusServiceUnavailable,
			fmt.Sprintf("cannot check that user %d exists: %v", userID, err))
		return false
	case !exists:
		platform.WriteProblem(w, r, http.StatusNotFound, "no user with id "+strconv.FormatInt(userID, 10))
		return false
	}
	return true
}

func (h *Handler) pathID(w http.ResponseWriter, r *http.Request, name string) (int64, bool) {
	id, err := h.parseID(r.PathValue(name))
	if err != nil {
		platform.WriteProblem(w, r, http.StatusBadRequest, err.Error())
		return 0, false
	}
	return id, true
}

// storeError answers for a failed store call: 503 when the orders server
// is unavailable, the error itself staying in the log.
func (h *Handler) storeError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		platform.SetStatus(w, 499)
		return
	}
	if errors.Is(err, ErrUnavailable) {
		h.logger.Error("orders database failed", "request_id", platform.RequestID(r.Context()), "err", err)
		platform.WriteProblem(w, r, http.StatusServiceUnavailable, ErrUnavailable.Error())
		return
	}
	h.logger.Error("orders store failed", "request_id", platform.RequestID(r.Context()), "err", err)
	platform.WriteProblem(w, r, http.StatusInternalServerError, "internal error")
}

func orderPath(userID, orderID int64) string {
	return "/users/" + strconv.FormatInt(userID, 10) + "/orders/" + strconv.FormatInt(orderID, 10)
}
