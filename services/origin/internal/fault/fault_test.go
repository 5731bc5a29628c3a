package fault

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func newSwitch(t *testing.T, token string) (*Switch, *httptest.Server, *httptest.Server) {
	t.Helper()
	s := New(token, prometheus.NewRegistry())
	traffic := httptest.NewServer(s.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})))
	admin := httptest.NewServer(s.Handler())
	t.Cleanup(func() { s.Release(); traffic.Close(); admin.Close() })
	return s, traffic, admin
}

func post(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdminAuth(t *testing.T) {
	tests := []struct {
		name, token, sent, query string
		want                     int
	}{
		{"disabled without a token", "", "x", "mode=error", 403},
		{"no token sent", "t0ken", "", "mode=error", 401},
		{"wrong token", "t0ken", "nope", "mode=error", 401},
		{"unknown mode", "t0ken", "t0ken", "mode=explode", 400},
		{"status not 5xx", "t0ken", "t0ken", "mode=error&status=404", 400},
		{"good", "t0ken", "t0ken", "mode=error&status=502", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, traffic, admin := newSwitch(t, tt.token)
			if code, body := post(t, admin.URL+"/fail?"+tt.query, tt.sent); code != tt.want {
				t.Fatalf("POST = %d %s, want %d", code, body, tt.want)
			}
			mode, _ := s.Mode()
			wantMode := Off
			if tt.want == 200 {
				wantMode = Error
			}
			if mode != wantMode {
				t.Errorf("mode = %s, want %s", mode, wantMode)
			}
			if code, _ := get(t, traffic.URL); (code == 200) != (wantMode == Off) {
				t.Errorf("traffic answered %d in mode %s", code, mode)
			}
		})
	}
}

func TestErrorMode(t *testing.T) {
	_, traffic, admin := newSwitch(t, "k")
	post(t, admin.URL+"/fail?mode=error", "k")
	if code, body := get(t, traffic.URL); code != 503 || !strings.Contains(body, "on purpose") {
		t.Errorf("error mode: %d %q, want 503", code, body)
	}
	post(t, admin.URL+"/fail?mode=error&status=500", "k")
	if code, _ := get(t, traffic.URL); code != 500 {
		t.Errorf("error mode with status=500: %d", code)
	}
	if code, body := get(t, admin.URL+"/fail"); code != 200 || !strings.Contains(body, `"mode":"error"`) {
		t.Errorf("GET /fail = %d %s", code, body)
	}
	post(t, admin.URL+"/fail?mode=off", "k")
	if code, body := get(t, traffic.URL); code != 200 || body != "ok" {
		t.Errorf("after off: %d %q", code, body)
	}
}

// In hang mode a request gets no answer until the switch is turned off
// (then a 503), or its client gives up.
func TestHangMode(t *testing.T) {
	s, traffic, admin := newSwitch(t, "k")
	post(t, admin.URL+"/fail?mode=hang", "k")

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", traffic.URL, nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("hang mode answered %d", resp.StatusCode)
	}

	for s.Held() != 0 {
		time.Sleep(time.Millisecond) // the abandoned request's handler returns
	}
	done := make(chan int)
	go func() {
		code, _ := get(t, traffic.URL)
		done <- code
	}()
	for s.Held() == 0 {
		select {
		case code := <-done:
			t.Fatalf("hang mode answered %d before the switch was turned off", code)
		case <-time.After(time.Millisecond):
		}
	}
	post(t, admin.URL+"/fail?mode=off", "k")
	if code := <-done; code != 503 {
		t.Errorf("held request answered %d when released, want 503", code)
	}
	if code, _ := get(t, traffic.URL); code != 200 {
		t.Errorf("after off: %d", code)
	}
}
