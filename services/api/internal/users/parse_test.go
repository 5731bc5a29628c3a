package users

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseID(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"1", 1, false},
		{"42", 42, false},
		{"9223372036854775807", 9223372036854775807, false},
		{"9223372036854775808", 0, true},
		{"0", 0, true},
		{"-1", 0, true},
		{"+1", 0, true},
		{"007", 0, true},
		{"abc", 0, true},
		{"", 0, true},
		{"1e3", 0, true},
		{" 1", 0, true},
		{"99999999999999999999", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseID(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseID(%q) = %d, %v; want %d, error=%v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{"1", "42", "0", "-5", "007", "9223372036854775807", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		if id < 1 {
			t.Fatalf("ParseID(%q) accepted %d", s, id)
		}
		// Exactly one spelling per id: the canonical decimal form.
		if got := strings.TrimLeft(s, "0"); got != s {
			t.Fatalf("ParseID(%q) accepted leading zeros", s)
		}
	})
}

func TestParsePut(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantName   string
	}{
		{"valid", `{"name":"Ada"}`, 0, "Ada"},
		{"with email", `{"name":"Ada","email":"ada@example.com"}`, 0, "Ada"},
		{"trimmed", `{"name":"  Ada  "}`, 0, "Ada"},
		{"unknown field", `{"name":"Ada","admin":true}`, 400, ""},
		{"empty name", `{"name":""}`, 400, ""},
		{"missing name", `{}`, 400, ""},
		{"not json", `name=Ada`, 400, ""},
		{"two objects", `{"name":"Ada"}{"name":"Bob"}`, 400, ""},
		{"wrong type", `{"name":42}`, 400, ""},
		{"too long name", `{"name":"` + strings.Repeat("a", 201) + `"}`, 400, ""},
		{"too large", `{"name":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, 413, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPut, "/users/1", strings.NewReader(tt.body))
			req, status, err := ParsePut(r, httptest.NewRecorder())
			if status != tt.wantStatus {
				t.Fatalf("status = %d (%v), want %d", status, err, tt.wantStatus)
			}
			if tt.wantStatus == 0 && req.Name != tt.wantName {
				t.Errorf("name = %q, want %q", req.Name, tt.wantName)
			}
			if tt.wantStatus != 0 && err == nil {
				t.Errorf("no error message for status %d", status)
			}
		})
	}
}

func FuzzParsePut(f *testing.F) {
	for _, s := range []string{`{"name":"Ada"}`, `{}`, `[]`, `{"name":"x","email":"y"}`, `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPut, "/users/1", strings.NewReader(body))
		req, status, err := ParsePut(r, httptest.NewRecorder())
		if (status == 0) != (err == nil) {
			t.Fatalf("status %d with error %v", status, err)
		}
		if status == 0 && (req.Name == "" || len(req.Name) > 200) {
			t.Fatalf("accepted invalid name %q", req.Name)
		}
	})
}

func TestParseIDs(t *testing.T) {
	tests := []struct {
		in      string
		want    []int64
		wantErr bool
	}{
		{"1,2,3", []int64{1, 2, 3}, false},
		{"3, 1 ,3", []int64{3, 1}, false},
		{"", nil, true},
		{"1,,2", nil, true},
		{"1,x", nil, true},
		{strings.Repeat("1,", MaxBatch) + "1", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseIDs(tt.in)
		if (err != nil) != tt.wantErr || fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("ParseIDs(%q) = %v, %v; want %v, error=%v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParsePage(t *testing.T) {
	tests := []struct {
		after, limit string
		wantAfter    int64
		wantLimit    int
		wantErr      bool
	}{
		{"", "", 0, 20, false},
		{"0", "5", 0, 5, false},
		{"42", "100", 42, 100, false},
		{"42", "101", 0, 0, true},
		{"42", "0", 0, 0, true},
		{"-1", "", 0, 0, true},
		{"x", "", 0, 0, true},
	}
	for _, tt := range tests {
		a, l, err := ParsePage(tt.after, tt.limit)
		if (err != nil) != tt.wantErr || a != tt.wantAfter || l != tt.wantLimit {
			t.Errorf("ParsePage(%q, %q) = %d, %d, %v", tt.after, tt.limit, a, l, err)
		}
	}
}

func FuzzParseIDs(f *testing.F) {
	f.Add("1,2,3")
	f.Add(",")
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := ParseIDs(s)
		if err != nil {
			return
		}
		if len(ids) == 0 || len(ids) > MaxBatch {
			t.Fatalf("ParseIDs(%q) returned %d ids", s, len(ids))
		}
		seen := map[int64]bool{}
		for _, id := range ids {
			if id < 1 || seen[id] {
				t.Fatalf("ParseIDs(%q) returned %v", s, ids)
			}
			seen[id] = true
		}
	})
}
