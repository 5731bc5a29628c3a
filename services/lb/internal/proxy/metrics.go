package proxy

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are per backend. The backend label is host:port: bounded by the
// number of replicas, unlike a raw path or client address.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec
}

// NewMetrics registers scalelab_lb_backend_* metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scalelab_lb_backend_requests_total",
			Help: "Requests forwarded, by backend and status class (499: client went away; 502/504 as 5xx are the balancer's own answers).",
		}, []string{"backend", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scalelab_lb_backend_request_duration_seconds",
			Help:    "Time from forwarding a request to the end of its response body, by backend.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"backend"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scalelab_lb_backend_requests_in_flight",
			Help: "Requests forwarded and not yet answered, by backend.",
		}, []string{"backend"}),
	}
	reg.MustRegister(m.requests, m.duration, m.inFlight)
	return m
}
