package platform

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWriteProblem(t *testing.T) {
	tests := []struct {
		status int
		detail string
		title  string
	}{
		{http.StatusBadRequest, "name is required", "Bad Request"},
		{http.StatusNotFound, "", "Not Found"},
		{http.StatusServiceUnavailable, "redis: connection refused", "Service Unavailable"},
		{http.StatusTooManyRequests, "slow down", "Too Many Requests"},
	}
	for _, tt := range tests {
		t.Run(tt.title, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteProblem(rec, httptest.NewRequest("POST", "/users/42?x=1", nil), tt.status, tt.detail)

			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d", rec.Code, tt.status)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q, want application/problem+json", ct)
			}
			if v := rec.Header().Get("X-Content-Type-Options"); v != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q, want nosniff", v)
			}
			var raw map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, rec.Body)
			}
			var p Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			want := Problem{Type: "about:blank", Title: tt.title, Status: tt.status, Detail: tt.detail, Instance: "/users/42"}
			if p != want {
				t.Errorf("problem = %+v, want %+v", p, want)
			}
			if _, ok := raw["detail"]; ok != (tt.detail != "") {
				t.Errorf("detail present = %v with detail %q (omitempty)", ok, tt.detail)
			}
		})
	}
}
