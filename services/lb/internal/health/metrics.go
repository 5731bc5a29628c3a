package health

import (
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"scalelab/services/lb/internal/balancer"
)

// Metrics export backend health. Gauges are read from the tracker at scrape
// time, so a backend gone from discovery simply stops appearing; counters
// are created when a backend appears and deleted when it goes, so no
// series outlives its backend.
//
// Every change to the counters' series happens under the tracker's lock and
// only for a backend it still holds, so a late event (a check finishing
// after its backend left) cannot bring a deleted series back.
type Metrics struct {
	mu        sync.Mutex
	trackers  []*Tracker // set by New: one per pool
	ejections *prometheus.CounterVec
	checks    *prometheus.CounterVec
	backends  *prometheus.Desc
	stateDesc *prometheus.Desc
}

// NewMetrics registers scalelab_lb_backends, scalelab_lb_backend_state,
// scalelab_lb_backend_ejections_total and
// scalelab_lb_backend_health_checks_total on reg; pass it to New.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		ejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scalelab_lb_backend_ejections_total",
			Help: "Times a backend was taken out of rotation after consecutive failed requests.",
		}, []string{"backend"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scalelab_lb_backend_health_checks_total",
			Help: "Active health checks, by backend and result (pass, fail).",
		}, []string{"backend", "result"}),
		backends: prometheus.NewDesc("scalelab_lb_backends",
			"Backends known, by state: available (healthy, not ejected), pending (new, first active check not passed yet), unhealthy (failing active checks), ejected (after failed requests), drained (by the admin API).",
			[]string{"state"}, nil),
		stateDesc: prometheus.NewDesc("scalelab_lb_backend_state",
			"1 for the state each backend is in (available, pending, unhealthy, ejected, drained), 0 for the others.",
			[]string{"backend", "state"}, nil),
	}
	reg.MustRegister(m.ejections, m.checks, m)
	return m
}

var stateNames = [...]string{"available", "pending", "unhealthy", "ejected", "drained"}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.backends
	ch <- m.stateDesc
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	var counts [len(stateNames)]int
	m.mu.Lock()
	trackers := slices.Clone(m.trackers)
	m.mu.Unlock()
	// An address in two pools is one backend to Prometheus: the first
	// pool's view of it is exported.
	seen := map[string]bool{}
	for _, t := range trackers {
		t.mu.Lock()
		for _, b := range t.order {
			st := t.states[b]
			if st == nil || seen[b.Addr] {
				continue
			}
			seen[b.Addr] = true
			s := slices.Index(stateNames[:], st.stateName())
			counts[s]++
			for i, name := range stateNames {
				v := 0.0
				if i == s {
					v = 1
				}
				ch <- prometheus.MustNewConstMetric(m.stateDesc, prometheus.GaugeValue, v, b.Addr, name)
			}
		}
		t.mu.Unlock()
	}
	for i, name := range stateNames {
		ch <- prometheus.MustNewConstMetric(m.backends, prometheus.GaugeValue, float64(counts[i]), name)
	}
}

func (m *Metrics) attach(t *Tracker) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.trackers = append(m.trackers, t)
}

// Detach stops exporting t's backends: their pool is gone (a routes
// reload dropped it).
func (m *Metrics) Detach(t *Tracker) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.trackers = slices.DeleteFunc(m.trackers, func(o *Tracker) bool { return o == t })
}

func (m *Metrics) add(b *balancer.Backend) {
	if m == nil {
		return
	}
	// Present at zero from the start, so rate() sees the first ejection.
	m.ejections.WithLabelValues(b.Addr)
}

func (m *Metrics) remove(b *balancer.Backend) {
	if m == nil {
		return
	}
	m.ejections.DeleteLabelValues(b.Addr)
	m.checks.DeletePartialMatch(prometheus.Labels{"backend": b.Addr})
}

func (m *Metrics) ejected(b *balancer.Backend) {
	if m != nil {
		m.ejections.WithLabelValues(b.Addr).Inc()
	}
}

func (m *Metrics) checked(b *balancer.Backend, pass bool) {
	if m == nil {
		return
	}
	result := "fail"
	if pass {
		result = "pass"
	}
	m.checks.WithLabelValues(b.Addr, result).Inc()
}
