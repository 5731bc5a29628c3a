package balancer

import (
	"math/rand/v2"
	"net/http"
)

// LeastRequest is Envoy's default: pick two backends at random and send
// the request to the one with fewer requests in flight (relative to its
// weight). "The power of two choices" (Mitzenmacher) gets almost all the
// benefit of scanning every backend, without the herd: a scan sends every
// concurrent pick to the same momentarily idlest backend, two random
// choices spread them.
type LeastRequest struct{}

// NewLeastRequest returns a power-of-two-choices policy.
func NewLeastRequest() *LeastRequest { return &LeastRequest{} }

// Pick returns the less loaded of two distinct random backends.
func (*LeastRequest) Pick(_ *http.Request, backends []*Backend) *Backend {
	n := len(backends)
	switch n {
	case 0:
		return nil
	case 1:
		return backends[0]
	}
	i := rand.IntN(n)
	j := rand.IntN(n - 1)
	if j >= i {
		j++ // distinct from i, still uniform
	}
	a, b := backends[i], backends[j]
	if lessLoaded(b, a) {
		return b
	}
	return a
}

// lessLoaded reports whether a's in-flight count per unit of weight is
// below b's, comparing a.in/a.w < b.in/b.w without dividing.
func lessLoaded(a, b *Backend) bool {
	return a.InFlight()*b.weight() < b.InFlight()*a.weight()
}
