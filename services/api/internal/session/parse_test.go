package session

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseLogin(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantID     int64
	}{
		{"valid", `{"user_id":42}`, 0, 42},
		{"spaces", " { \"user_id\" : 42 }\n", 0, 42},
		{"max int64", `{"user_id":9223372036854775807}`, 0, 9223372036854775807},
		{"overflow", `{"user_id":9223372036854775808}`, 400, 0},
		{"zero", `{"user_id":0}`, 400, 0},
		{"negative", `{"user_id":-1}`, 400, 0},
		{"missing", `{}`, 400, 0},
		{"null", `{"user_id":null}`, 400, 0},
		{"string", `{"user_id":"42"}`, 400, 0},
		{"fraction", `{"user_id":4.2}`, 400, 0},
		{"exponent", `{"user_id":1e3}`, 400, 0},
		{"unknown field", `{"user_id":42,"admin":true}`, 400, 0},
		{"not json", `user_id=42`, 400, 0},
		{"empty", ``, 400, 0},
		{"array", `[42]`, 400, 0},
		{"two objects", `{"user_id":42}{"user_id":43}`, 400, 0},
		{"trailing brace", `{"user_id":42}}`, 400, 0},
		{"trailing garbage", `{"user_id":42} x`, 400, 0},
		{"truncated", `{"user_id":42`, 400, 0},
		{"too large", `{"user_id":42,"pad":"` + strings.Repeat("a", MaxLoginBytes) + `"}`, 413, 0},
		{"too large trailing", `{"user_id":42}` + strings.Repeat(" ", MaxLoginBytes), 413, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(tt.body))
			id, status, err := ParseLogin(r, httptest.NewRecorder())
			if status != tt.wantStatus || id != tt.wantID || (err != nil) != (tt.wantStatus != 0) {
				t.Fatalf("ParseLogin(%.40q) = %d, %d, %v; want %d, %d", tt.body, id, status, err, tt.wantID, tt.wantStatus)
			}
		})
	}
}

func FuzzParseLogin(f *testing.F) {
	for _, s := range []string{`{"user_id":42}`, `{}`, `{"user_id":-1}`, `{"user_id":"x"}`, `[`, `{"user_id":1}{}`, `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body))
		id, status, err := ParseLogin(r, httptest.NewRecorder())
		switch {
		case err == nil && (status != 0 || id < 1):
			t.Fatalf("ParseLogin(%q) accepted id %d with status %d", body, id, status)
		case err != nil && status != http.StatusBadRequest && status != http.StatusRequestEntityTooLarge:
			t.Fatalf("ParseLogin(%q) refused with status %d", body, status)
		case err != nil && id != 0:
			t.Fatalf("ParseLogin(%q) refused but returned id %d", body, id)
		case status == http.StatusRequestEntityTooLarge && len(body) <= MaxLoginBytes:
			t.Fatalf("ParseLogin: %d-byte body refused as too large", len(body))
		}
	})
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if len(id) != 43 || !ValidID(id) {
			t.Fatalf("NewID() = %q: not a valid id", id)
		}
		b, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(b) != 32 {
			t.Fatalf("NewID() = %q decodes to %d bytes, %v", id, len(b), err)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestValidID(t *testing.T) {
	good := NewID()
	tests := []struct {
		id   string
		want bool
	}{
		{good, true},
		{strings.Repeat("A", 43), true},
		{strings.Repeat("_", 42) + "w", true},
		{"", false},
		{"42", false},
		{good[:42], false},
		{good + "A", false},
		{good + "=", false},
		{strings.Repeat("A", 42) + "B", false}, // non-canonical: low bits of the last character set
		{strings.Repeat("+", 43), false},       // standard base64, not base64url
		{strings.Repeat("A", 42) + ".", false},
		{strings.Repeat("A", 42) + "\x00", false},
		{strings.Repeat("A", 41) + "é", false}, // 43 bytes, not base64
	}
	for _, tt := range tests {
		if got := ValidID(tt.id); got != tt.want {
			t.Errorf("ValidID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func FuzzValidID(f *testing.F) {
	f.Add(NewID())
	f.Add(strings.Repeat("A", 42) + "B")
	f.Add("session")
	f.Fuzz(func(t *testing.T, id string) {
		if !ValidID(id) {
			return
		}
		// A valid id is exactly one encoding of exactly 32 bytes, so it
		// names exactly one key.
		b, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(b) != IDBytes || base64.RawURLEncoding.EncodeToString(b) != id {
			t.Fatalf("ValidID(%q) accepted a non-canonical id", id)
		}
	})
}
