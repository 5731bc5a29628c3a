package forward

import (
	"fmt"
	"net/http"

	"scalelab/services/lb/internal/balancer"
)

// Picker chooses the backend of each try: the policy's choice, kept off
// backends at their concurrency limit, and, for a retry, off the backends
// already tried and within the retry budget.
type Picker struct {
	Policy  balancer.Policy
	Limit   int     // LB_MAX_REQUESTS_PER_BACKEND; 0: none
	Budget  *Budget // nil: retries are not capped
	Metrics *Metrics
}

// NewPicker returns the picker of cfg's limits.
func NewPicker(policy balancer.Policy, cfg *Config, m *Metrics) *Picker {
	return &Picker{Policy: policy, Limit: cfg.MaxRequestsPerBackend, Budget: cfg.Budget, Metrics: m}
}

// Pick chooses among backends: the policy's choice when it has room, else
// the policy's choice among those that do (so a full backend sheds load to
// its peers before anything is refused). It returns the policy's first
// choice as well, to name it when every backend is full (b nil, first not
// nil).
func (p *Picker) Pick(r *http.Request, backends []*balancer.Backend) (b, first *balancer.Backend) {
	b = p.Policy.Pick(r, backends)
	if b == nil || p.Limit <= 0 || b.InFlight() < int64(p.Limit) {
		return b, b
	}
	return p.Policy.Pick(r, balancer.WithRoom(backends, p.Limit)), b
}

// Retry picks the backend of another try: one of avail not in tried,
// within the retry budget. It returns nil when none is left or the budget
// is spent (which is counted).
func (p *Picker) Retry(r *http.Request, avail, tried []*balancer.Backend) *balancer.Backend {
	next, _ := p.Pick(r, balancer.Without(avail, tried))
	if next == nil {
		return nil
	}
	if p.Budget != nil && !p.Budget.Retry() {
		p.Metrics.ObserveBudgetExhausted()
		return nil
	}
	return next
}

// AtLimitError is a try not made because its backend already had
// LB_MAX_REQUESTS_PER_BACKEND requests in flight. Such a try says nothing
// of the backend's health.
type AtLimitError struct {
	Addr  string
	Limit int
}

func (e *AtLimitError) Error() string {
	return fmt.Sprintf("backend %s at its concurrency limit (LB_MAX_REQUESTS_PER_BACKEND=%d)", e.Addr, e.Limit)
}
