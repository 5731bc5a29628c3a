package fault

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"

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
// (then a 503), or its client gives up. The handlers are called directly in
// a bubble, so "no answer yet" is a goroutine durably blocked, not a guess.
func TestHangMode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New("k", prometheus.NewRegistry())
		traffic := s.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok")
		}))
		setMode := func(mode string) {
			req := httptest.NewRequest("POST", "/fail?mode="+mode, nil)
			req.Header.Set("Authorization", "Bearer k")
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != 200 {
				t.Fatalf("POST /fail?mode=%s = %d %s", mode, rec.Code, rec.Body)
			}
		}
		// serve runs one traffic request in its own goroutine; done is
		// closed when the handler returns.
		serve := func(ctx context.Context) (*httptest.ResponseRecorder, chan struct{}) {
			rec, done := httptest.NewRecorder(), make(chan struct{})
			go func() {
				defer close(done)
				traffic.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil).WithContext(ctx))
			}()
			return rec, done
		}
		answered := func(done chan struct{}) bool {
			select {
			case <-done:
				return true
			default:
				return false
			}
		}
		setMode(Hang)

		// A client that gives up: its request is held, then let go.
		ctx, cancel := context.WithCancel(context.Background())
		_, done := serve(ctx)
		synctest.Wait()
		if answered(done) || s.Held() != 1 {
			t.Fatalf("hang mode: answered %v, %d held; want no answer and 1 held", answered(done), s.Held())
		}
		cancel()
		synctest.Wait()
		if !answered(done) || s.Held() != 0 {
			t.Fatalf("after the client gave up: handler returned %v, %d held; want returned and 0 held", answered(done), s.Held())
		}

		// A held request is answered 503 when the switch is turned off.
		rec, done := serve(context.Background())
		synctest.Wait()
		if answered(done) || s.Held() != 1 {
			t.Fatalf("hang mode: answered %v, %d held before the switch was turned off; want no answer and 1 held", answered(done), s.Held())
		}
		setMode(Off)
		<-done
		if rec.Code != 503 {
			t.Errorf("held request answered %d when released, want 503", rec.Code)
		}
		rec, done = serve(context.Background())
		<-done
		if rec.Code != 200 || rec.Body.String() != "ok" {
			t.Errorf("after off: %d %q", rec.Code, rec.Body)
		}
	})
}
