package users

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"scalelab/services/api/internal/store"
	"scalelab/services/platform"
)

// MaxBatch bounds GET /users?ids=... and the page size of GET /users.
const MaxBatch = 100

// List answers GET /users: a multi-get with ?ids=1,2,3, or else one page of
// every user in id order with ?after=ID&limit=N.
func (h *Handler) List(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Has("ids") {
		h.multiGet(w, r, q.Get("ids"))
		return
	}
	after, limit, err := ParsePage(q.Get("after"), q.Get("limit"))
	if err != nil {
		platform.WriteProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	h.page(w, r, after, limit)
}

// ParseIDs parses "1,2,3": at most MaxBatch valid ids, duplicates dropped,
// order kept.
func ParseIDs(s string) ([]int64, error) {
	parts := strings.Split(s, ",")
	if s == "" || len(parts) > MaxBatch {
		return nil, fmt.Errorf("ids must list 1 to %d ids, comma-separated", MaxBatch)
	}
	ids := make([]int64, 0, len(parts))
	seen := make(map[int64]bool, len(parts))
	for _, p := range parts {
		id, err := ParseID(strings.TrimSpace(p))
		if err != nil {
			return nil, err
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// ParsePage parses the cursor (an id, 0 for the start) and the page size.
func ParsePage(afterS, limitS string) (after int64, limit int, err error) {
	limit = 20
	if afterS != "" && afterS != "0" {
		if after, err = ParseID(afterS); err != nil {
			return 0, 0, fmt.Errorf("after: %v", err)
		}
	}
	if limitS != "" {
		limit, err = strconv.Atoi(limitS)
		if err != nil || limit < 1 || limit > MaxBatch {
			return 0, 0, fmt.Errorf("limit must be an integer from 1 to %d", MaxBatch)
		}
	}
	return after, limit, nil
}

// multiGet answers ?ids=: the users found, in the order asked, and the ids
// of those that do not exist; X-Cache-Hits says how many the cache answered.
func (h *Handler) multiGet(w http.ResponseWriter, r *http.Request, raw string) {
	ids, err := ParseIDs(raw)
	if err != nil {
		platform.WriteProblem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	found, hits, err := h.users.ReadMany(r.Context(), ids)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	out := struct {
		Users   []json.RawMessage `json:"users"`
		Missing []int64           `json:"missing"`
	}{Users: []json.RawMessage{}, Missing: []int64{}}
	for _, id := range ids {
		if b, ok := found[id]; ok {
			out.Users = append(out.Users, b)
		} else {
			out.Missing = append(out.Missing, id)
		}
	}
	w.Header().Set("X-Cache-Hits", fmt.Sprintf("%d/%d", hits, len(ids)))
	body, _ := json.Marshal(out)
	platform.WriteJSON(w, http.StatusOK, json.RawMessage(body))
}

// page lists users in id order across every shard, limit at a time, with
// the link to the next page when there is one.
func (h *Handler) page(w http.ResponseWriter, r *http.Request, after int64, limit int) {
	merged, err := h.users.Page(r.Context(), after, limit)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	more := len(merged) > limit
	merged = merged[:min(limit, len(merged))]
	out := struct {
		Users []store.User `json:"users"`
		Next  string       `json:"next,omitempty"`
	}{Users: merged}
	if out.Users == nil {
		out.Users = []store.User{}
	}
	if more {
		out.Next = fmt.Sprintf("/users?after=%d&limit=%d", merged[len(merged)-1].ID, limit)
	}
	// No HTML escaping: the cursor's & must stay readable (and copyable).
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(out)
	platform.WriteJSON(w, http.StatusOK, json.RawMessage(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))))
}
