//go:build containers

package hitpath

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// requests is scalelab_api_http_requests_total of the hit path's route,
// method GET, status class code, as reg holds it.
func requests(t *testing.T, reg *prometheus.Registry, code string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != "scalelab_api_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labels(m)["route"] == Route && labels(m)["method"] == "GET" && labels(m)["code"] == code {
				v = m.GetCounter().GetValue()
			}
		}
	}
	return v
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}
