package session

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"scalelab/services/platform"
)

// CookieName is the cookie that carries the session id.
const CookieName = "scalelab_session"

// ErrUnknownUser is what the userName function of NewHandler returns,
// wrapped or not, when no user has the id: login answers 404.
var ErrUnknownUser = errors.New("unknown user")

// Handler serves /login, /me and /logout.
type Handler struct {
	store        *Store
	instance     string
	userName     func(ctx context.Context, id int64) (string, error)
	secureCookie bool
	logger       *slog.Logger
}

// NewHandler builds the session handler. instance names this replica in
// answers and in the sessions it creates; userName looks a user's name up
// (an error wrapping ErrUnknownUser when there is none); secureCookie adds
// Secure to the cookie, which browsers then send over HTTPS only (leave it
// off for the lab's plain-HTTP localhost, on behind TLS).
func NewHandler(st *Store, instance string, userName func(ctx context.Context, id int64) (string, error), secureCookie bool, logger *slog.Logger) *Handler {
	return &Handler{store: st, instance: instance, userName: userName, secureCookie: secureCookie, logger: logger}
}

// Login answers POST /login with a body {"user_id": 42}: it creates a
// session in Redis and sets its cookie.
func (h *Handler) Login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	userID, status, err := ParseLogin(r, w)
	if err != nil {
		platform.WriteProblem(w, r, status, err.Error())
		return
	}
	ctx := r.Context()
	name, err := h.userName(ctx, userID)
	switch {
	case errors.Is(err, ErrUnknownUser):
		platform.WriteProblem(w, r, http.StatusNotFound, "no user with id "+strconv.FormatInt(userID, 10))
		return
	case err != nil:
		if h.clientGone(w, r) {
			return
		}
		h.logger.Error("user lookup for login failed", "request_id", platform.RequestID(ctx), "user_id", userID, "err", err)
		platform.WriteProblem(w, r, http.StatusServiceUnavailable, "user lookup unavailable")
		return
	}
	id, err := h.store.Create(ctx, Session{UserID: userID, Name: name, CreatedAt: time.Now().UTC(), CreatedBy: h.instance})
	if err != nil {
		h.storeUnavailable(w, r, "create", err)
		return
	}
	// A session the client held before this login is replaced: drop it
	// rather than leave it valid until it expires.
	if old, ok := h.cookieID(r); ok {
		if err := h.store.Delete(context.WithoutCancel(ctx), old); err != nil {
			h.logger.Warn("deleting the replaced session failed; it expires on its own",
				"request_id", platform.RequestID(ctx), "err", err)
		}
	}
	h.setCookie(w, id)
	w.Header().Set("Location", "/me")
	platform.WriteJSON(w, http.StatusCreated, struct {
		UserID   int64  `json:"user_id"`
		Name     string `json:"name"`
		ServedBy string `json:"served_by"`
	}{userID, name, h.instance})
}

// Me answers GET /me with the user of the session in the cookie, read from
// Redis: any replica can answer, whichever created the session.
func (h *Handler) Me(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	id, ok := h.cookieID(r)
	if !ok {
		platform.WriteProblem(w, r, http.StatusUnauthorized, "no session: POST /login first")
		return
	}
	sess, err := h.store.Get(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		if err != ErrNotFound {
			h.logger.Warn("unreadable session", "request_id", platform.RequestID(r.Context()), "err", err)
		}
		h.clearCookie(w)
		platform.WriteProblem(w, r, http.StatusUnauthorized, "session expired or unknown: POST /login again")
		return
	}
	if err != nil {
		h.storeUnavailable(w, r, "get", err)
		return
	}
	// Redis just pushed the session's expiry back; push the cookie's too,
	// or the browser would drop it ttl after login however active the user.
	h.setCookie(w, id)
	platform.WriteJSON(w, http.StatusOK, struct {
		UserID           int64  `json:"user_id"`
		Name             string `json:"name"`
		SessionCreatedBy string `json:"session_created_by"`
		ServedBy         string `json:"served_by"`
	}{sess.UserID, sess.Name, sess.CreatedBy, h.instance})
}

// Logout answers POST /logout: the session is deleted from Redis, so no
// replica accepts it any more, and the cookie is expired. Logging out
// without a session is not an error.
func (h *Handler) Logout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if id, ok := h.cookieID(r); ok {
		// Finish the delete even if the client hangs up: a logout that
		// half happened would leave the session valid.
		if err := h.store.Delete(context.WithoutCancel(r.Context()), id); err != nil {
			h.storeUnavailable(w, r, "delete", err)
			return
		}
	}
	h.clearCookie(w)
	w.WriteHeader(http.StatusNoContent)
}

// cookieID returns the session id from the request's cookie, if it has one
// of the right shape.
func (h *Handler) cookieID(r *http.Request) (string, bool) {
	for _, c := range r.CookiesNamed(CookieName) {
		if ValidID(c.Value) {
			return c.Value, true
		}
	}
	return "", false
}

func (h *Handler) setCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    id,
		Path:     "/",
		MaxAge:   max(1, int(h.store.TTL()/time.Second)),
		HttpOnly: true,                 // no script can read it, so an XSS cannot steal it
		SameSite: http.SameSiteLaxMode, // not sent on cross-site POSTs (CSRF)
		Secure:   h.secureCookie,
	})
}

func (h *Handler) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    "",
		Path:     "/",
		MaxAge:   -1, // sent as Max-Age=0: delete now
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
		Secure:   h.secureCookie,
	})
}

// storeUnavailable answers a failed Redis call: 503, since without the
// session store no replica can log anyone in or recognise them.
func (h *Handler) storeUnavailable(w http.ResponseWriter, r *http.Request, op string, err error) {
	if h.clientGone(w, r) {
		return
	}
	h.logger.Error("session store failed", "request_id", platform.RequestID(r.Context()), "op", op, "err", err)
	platform.WriteProblem(w, r, http.StatusServiceUnavailable, "session store unavailable")
}

// clientGone records 499 when the client left before the answer.
func (h *Handler) clientGone(w http.ResponseWriter, r *http.Request) bool {
	if r.Context().Err() != nil {
		platform.SetStatus(w, 499)
		return true
	}
	return false
}
