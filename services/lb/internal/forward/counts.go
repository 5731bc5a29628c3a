package forward

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"scalelab/services/lb/internal/balancer"
)

// BackendCounts are a backend's counters since discovery found it, as the
// admin API shows them.
type BackendCounts struct {
	Requests map[string]uint64 // tries by status class: 1xx..5xx, 499, other
	Retries  uint64            // tries that failed here and were retried elsewhere
}

// Counts reads b's counters from its metric series (zero for a backend
// Track does not know). It is for the admin API, not for the request path.
func (m *Metrics) Counts(b *balancer.Backend) BackendCounts {
	bm := (*m.current.Load())[b]
	c := BackendCounts{Requests: make(map[string]uint64, len(statusClasses))}
	if bm == nil {
		return c
	}
	for i, class := range statusClasses {
		c.Requests[class] = counterValue(bm.requests[i])
	}
	c.Retries = counterValue(bm.retries)
	return c
}

func counterValue(c prometheus.Counter) uint64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil || m.Counter == nil {
		return 0
	}
	return uint64(m.Counter.GetValue())
}
