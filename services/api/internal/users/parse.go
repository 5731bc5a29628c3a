package users

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// MaxBodyBytes bounds a request body: a user is a few hundred bytes.
const MaxBodyBytes = 64 << 10

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
