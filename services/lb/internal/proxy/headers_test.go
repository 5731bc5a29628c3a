package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/lb/internal/forward"
)

// What the backend receives, from a trusted proxy and from anyone else.
func TestForwardedHeaders(t *testing.T) {
	trusted, _ := forward.ParseTrusted("10.0.0.0/8")
	tests := []struct {
		name, peer         string
		in                 http.Header
		wantXFF, wantHost  string
		wantProto, wantVia string
	}{
		{"stranger's headers replaced", "192.0.2.1:5555",
			http.Header{"X-Forwarded-For": {"6.6.6.6"}, "X-Forwarded-Host": {"evil"}, "X-Forwarded-Proto": {"https"}},
			"192.0.2.1", "lb.example", "http", "1.1 scalelab-lb"},
		{"trusted proxy's chain extended", "10.0.0.2:5555",
			http.Header{"X-Forwarded-For": {"198.51.100.7"}, "X-Forwarded-Host": {"shop.example"}, "X-Forwarded-Proto": {"https"}, "Via": {"1.1 edge"}},
			"198.51.100.7, 10.0.0.2", "shop.example", "https", "1.1 edge, 1.1 scalelab-lb"},
		{"trusted proxy without headers", "10.0.0.2:5555", http.Header{},
			"10.0.0.2", "lb.example", "http", "1.1 scalelab-lb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen http.Header
			s := newSetup(t, forward.Config{Trusted: trusted, Retries: 0, TryTimeout: 1e9, RequestTimeout: 1e9}, func(r *http.Request) (*http.Response, error) {
				seen = r.Header.Clone()
				return answer(200, "ok")(r)
			})
			r := httptest.NewRequest(http.MethodGet, "http://lb.example/", nil)
			r.RemoteAddr = tt.peer
			for k, v := range tt.in {
				r.Header[k] = v
			}
			rec := s.serve(r)
			got := map[string]string{
				"X-Forwarded-For":   strings.Join(seen.Values("X-Forwarded-For"), ", "),
				"X-Forwarded-Host":  seen.Get("X-Forwarded-Host"),
				"X-Forwarded-Proto": seen.Get("X-Forwarded-Proto"),
				"Via":               strings.Join(seen.Values("Via"), ", "),
			}
			want := map[string]string{"X-Forwarded-For": tt.wantXFF, "X-Forwarded-Host": tt.wantHost,
				"X-Forwarded-Proto": tt.wantProto, "Via": tt.wantVia}
			for k := range want {
				if got[k] != want[k] {
					t.Errorf("%s = %q, want %q", k, got[k], want[k])
				}
			}
			if v := rec.Header().Get("Via"); v != "1.1 scalelab-lb" {
				t.Errorf("response Via = %q", v)
			}
		})
	}
}

// Hashing on the client behind a trusted proxy uses the client it vouches
// for, not the proxy: two clients behind one proxy can land apart.
func TestHashOnClientBehindTrustedProxy(t *testing.T) {
	trusted, _ := forward.ParseTrusted("10.0.0.2")
	key, _ := balancer.ParseHashKey("client")
	s := newSetup(t, forward.Config{Trusted: trusted, TryTimeout: 1e9, RequestTimeout: 1e9},
		answer(200, "a"), answer(200, "b"), answer(200, "c"), answer(200, "d"))
	s.h.picker.Policy = balancer.NewHash(key, 0)
	served := map[string]bool{}
	for i := range 40 {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "10.0.0.2:1234"
		r.Header.Set("X-Forwarded-For", "198.51.100."+string(rune('0'+i%10))+string(rune('0'+i/10)))
		served[s.serve(r).Body.String()] = true
	}
	if len(served) < 2 {
		t.Errorf("40 clients behind one trusted proxy all went to %v", served)
	}
}
