package platform

import (
	"encoding/json"
	"net/http"
)

// Problem is an RFC 9457 problem details body.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// WriteProblem answers with an application/problem+json body.
func WriteProblem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	p := Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Instance: r.URL.EscapedPath()}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(p)
}

// WriteJSON answers with v as JSON and a trailing newline. A body that is
// already JSON (json.RawMessage, e.g. a cached value) is written as it is.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, ok := v.(json.RawMessage)
	if !ok {
		body, _ = json.Marshal(v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
	w.Write([]byte("\n"))
}
