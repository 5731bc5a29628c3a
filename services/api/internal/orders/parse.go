package orders

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// Bounds of what a client may send.
const (
	MaxBodyBytes   = 64 << 10 // an order is well under a kilobyte
	MaxItemBytes   = 200
	MaxQuantity    = 10_000          // fits PostgreSQL's int with room to spare
	MaxAmountCents = 100_000_000_000 // one billion in currency units
)

// CreateRequest is a validated body of POST /users/{id}/orders.
type CreateRequest struct {
	Item        string
	Quantity    int
	AmountCents int64
}

// createBody is what the client sends; pointers tell a missing field from
// a zero one (a free item is fine, a forgotten price is not).
type createBody struct {
	Item        *string `json:"item"`
	Quantity    *int64  `json:"quantity"`
	AmountCents *int64  `json:"amount_cents"`
}

const example = `{"item":"book","quantity":2,"amount_cents":1299}`

// ParseOrder decodes and validates a POST body: one JSON object, known
// fields only, all three present and in range. On failure it returns the
// status to answer (400, or 413 past MaxBodyBytes) and a message for the
// client.
func ParseOrder(r *http.Request, w http.ResponseWriter) (CreateRequest, int, error) {
	var body createBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return CreateRequest{}, http.StatusRequestEntityTooLarge, fmt.Errorf("body is larger than %d bytes", MaxBodyBytes)
		}
		return CreateRequest{}, http.StatusBadRequest, fmt.Errorf("body must be a JSON object like %s: %v", example, err)
	}
	if dec.More() {
		return CreateRequest{}, http.StatusBadRequest, errors.New("body must hold exactly one JSON object")
	}
	req, err := body.validate()
	if err != nil {
		return CreateRequest{}, http.StatusBadRequest, err
	}
	return req, 0, nil
}

func (b createBody) validate() (CreateRequest, error) {
	switch {
	case b.Item == nil:
		return CreateRequest{}, errors.New("item is required")
	case b.Quantity == nil:
		return CreateRequest{}, errors.New("quantity is required")
	case b.AmountCents == nil:
		return CreateRequest{}, errors.New("amount_cents is required")
	}
	item := strings.TrimSpace(*b.Item)
	switch {
	case item == "":
		return CreateRequest{}, errors.New("item must not be empty")
	case len(item) > MaxItemBytes:
		return CreateRequest{}, fmt.Errorf("item is longer than %d bytes", MaxItemBytes)
	case strings.IndexFunc(item, unicode.IsControl) >= 0:
		// PostgreSQL's text refuses NUL outright; the other control
		// characters would only make trouble in logs and terminals.
		return CreateRequest{}, errors.New("item must not contain control characters")
	case *b.Quantity < 1 || *b.Quantity > MaxQuantity:
		return CreateRequest{}, fmt.Errorf("quantity must be an integer in [1, %d]", MaxQuantity)
	case *b.AmountCents < 0 || *b.AmountCents > MaxAmountCents:
		return CreateRequest{}, fmt.Errorf("amount_cents must be an integer in [0, %d]", int64(MaxAmountCents))
	}
	return CreateRequest{Item: item, Quantity: int(*b.Quantity), AmountCents: *b.AmountCents}, nil
}

// ParseLimit reads the limit query parameter: DefaultLimit when absent,
// otherwise a decimal integer in [1, MaxLimit] without sign or leading zeros.
func ParseLimit(q url.Values) (int, error) {
	if !q.Has("limit") {
		return DefaultLimit, nil
	}
	s := q.Get("limit")
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit || strconv.Itoa(n) != s {
		return 0, fmt.Errorf("limit %q must be an integer in [1, %d]", s, MaxLimit)
	}
	return n, nil
}
