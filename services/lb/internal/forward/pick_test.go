package forward

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"scalelab/services/lb/internal/balancer"
)

func backends(n int) []*balancer.Backend {
	var bs []*balancer.Backend
	for i := range n {
		bs = append(bs, balancer.NewBackend(&url.URL{Scheme: "http", Host: fmt.Sprintf("%c:80", 'a'+i)}))
	}
	return bs
}

// A full backend sheds its request to one with room; with every backend
// full, none is picked and the policy's choice is named.
func TestPickerPick(t *testing.T) {
	bs := backends(2)
	p := &Picker{Policy: balancer.NewRoundRobin(), Limit: 1}
	r := httptest.NewRequest("GET", "/", nil)
	bs[0].Acquire()
	for range 4 {
		if b, _ := p.Pick(r, bs); b != bs[1] {
			t.Fatalf("picked %v with a:80 full, want b:80", b)
		}
	}
	bs[1].Acquire()
	if b, first := p.Pick(r, bs); b != nil || first == nil {
		t.Fatalf("with both full: b=%v first=%v, want none and the policy's choice", b, first)
	}
}

// A retry goes to a backend not tried yet, within the budget; a retry the
// budget refuses is counted.
func TestPickerRetry(t *testing.T) {
	bs := backends(3)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	p := &Picker{Policy: balancer.NewRoundRobin(), Budget: NewBudget(0, 1), Metrics: m}
	r := httptest.NewRequest("GET", "/", nil)
	for range 6 {
		if b := p.Retry(r, bs, bs[:2]); b != bs[2] {
			t.Fatalf("retry after a and b picked %v, want c:80", b)
		}
		p.Budget.Request()
	}
	if b := p.Retry(r, bs, bs); b != nil {
		t.Fatalf("retry with every backend tried picked %v", b)
	}
	// 1 retry a second over a 10 s window: 10 in all; 6 are spent.
	allowed := 0
	for p.Retry(r, bs, bs[:1]) != nil {
		allowed++
	}
	if allowed != 4 {
		t.Errorf("%d more retries allowed, want 4", allowed)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "scalelab_lb_retry_budget_exhausted_total" {
			if v := mf.GetMetric()[0].GetCounter().GetValue(); v != 1 {
				t.Errorf("budget exhausted counted %v times, want 1", v)
			}
			return
		}
	}
	t.Error("no scalelab_lb_retry_budget_exhausted_total")
}
