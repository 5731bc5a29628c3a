package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// MaxLoginBytes bounds a login body: {"user_id": 42} is 15 bytes.
const MaxLoginBytes = 4 << 10

// loginRequest is the body of POST /login.
type loginRequest struct {
	UserID *int64 `json:"user_id"`
}

// ParseLogin decodes and validates a login body: exactly one JSON object,
// known fields only, a positive user_id. On failure it returns the status
// to answer with (400, or 413 for a body over MaxLoginBytes).
func ParseLogin(r *http.Request, w http.ResponseWriter) (int64, int, error) {
	var req loginRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxLoginBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	if err == nil {
		// Anything after the object, even a stray brace, is refused.
		if err = dec.Decode(new(json.RawMessage)); err == io.EOF {
			err = nil
		} else if err == nil {
			err = errors.New("body must hold exactly one JSON object")
		}
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return 0, http.StatusRequestEntityTooLarge, fmt.Errorf("body is larger than %d bytes", MaxLoginBytes)
		}
		return 0, http.StatusBadRequest, fmt.Errorf(`body must be a JSON object like {"user_id":42}: %v`, err)
	}
	switch {
	case req.UserID == nil:
		return 0, http.StatusBadRequest, errors.New("user_id is required")
	case *req.UserID < 1:
		return 0, http.StatusBadRequest, fmt.Errorf("user_id %d must be a positive integer", *req.UserID)
	}
	return *req.UserID, 0, nil
}
