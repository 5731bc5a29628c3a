package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/lb/internal/forward"
)

// BenchmarkServeHTTP measures the lb's own request path (pick, rewrite,
// try, copy) with a transport that answers from memory, so the network and
// the backend do not drown it out.
func BenchmarkServeHTTP(b *testing.B) {
	bs := []*balancer.Backend{
		balancer.NewBackend(&url.URL{Scheme: "http", Host: "10.0.0.1:80"}),
		balancer.NewBackend(&url.URL{Scheme: "http", Host: "10.0.0.2:80"}),
	}
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/plain"}},
			Body: io.NopCloser(strings.NewReader("hello from the backend\n")), ContentLength: 23,
			ProtoMajor: 1, ProtoMinor: 1, Request: r}, nil
	})
	m := forward.NewMetrics(prometheus.NewRegistry())
	m.Track(bs, bs, nil)
	cfg := testConfig()
	cfg.Budget = forward.NewBudget(20, 10)
	h := New(quietPool(bs), balancer.NewRoundRobin(), rt, m, quiet, cfg)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/bench", nil))
			if rec.Code != 200 {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}

// quietPool offers every backend and ignores outcomes.
type quietPool []*balancer.Backend

func (p quietPool) Available() []*balancer.Backend { return p }
func (quietPool) Observe(*balancer.Backend, bool)  {}
