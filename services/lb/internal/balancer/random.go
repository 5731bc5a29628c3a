package balancer

import (
	"math/rand/v2"
	"net/http"
)

// Random picks a backend at random, in proportion to its weight. It needs
// no shared state at all, which makes it the baseline the others are
// measured against.
type Random struct{}

// NewRandom returns a random policy.
func NewRandom() *Random { return &Random{} }

// Pick returns a random backend, weighted.
func (*Random) Pick(_ *http.Request, backends []*Backend) *Backend {
	if len(backends) == 0 {
		return nil
	}
	var total int64
	for _, b := range backends {
		total += b.weight()
	}
	x := rand.Int64N(total)
	for _, b := range backends {
		if x -= b.weight(); x < 0 {
			return b
		}
	}
	return backends[len(backends)-1] // not reached
}
