package balancer

import (
	"net/http"
	"sync"
)

// SmoothWeighted is nginx's weighted round robin. Each pick, every backend's
// current weight grows by its weight; the largest is picked and loses the
// sum of all weights. Weights 5, 1, 1 give a a a b a c a ... rather than
// a a a a a b c: the heavy backend's turns are spread out, not bunched.
//
// Its state is one counter per backend, kept in the order of the list it
// was last given. A new list (a replica added, one ejected) carries each
// remaining backend's counter over and starts newcomers at zero.
type SmoothWeighted struct {
	mu      sync.Mutex
	list    []*Backend
	current []int64
}

// NewSmoothWeighted returns nginx's smooth weighted round-robin policy.
func NewSmoothWeighted() *SmoothWeighted { return &SmoothWeighted{} }

// Pick returns the backend whose turn it is.
func (p *SmoothWeighted) Pick(_ *http.Request, backends []*Backend) *Backend {
	if len(backends) == 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !sameList(p.list, backends) {
		p.adopt(backends)
	}
	var total int64
	best := -1
	for i, b := range backends {
		w := b.weight()
		p.current[i] += w
		total += w
		if best < 0 || p.current[i] > p.current[best] {
			best = i
		}
	}
	p.current[best] -= total
	return backends[best]
}

// adopt switches to a new list, carrying counters over by backend.
func (p *SmoothWeighted) adopt(backends []*Backend) {
	old := make(map[*Backend]int64, len(p.list))
	for i, b := range p.list {
		old[b] = p.current[i]
	}
	p.list = backends
	p.current = make([]int64, len(backends))
	for i, b := range backends {
		p.current[i] = old[b]
	}
}

// sameList reports whether a and b are the same slice. Lists are
// immutable once published, so identity is enough and costs nothing.
func sameList(a, b []*Backend) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
