package balancer

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
)

// Hash sends requests with the same key (a header, a cookie, or the
// client's address) to the same backend, for stickiness: a cache warm on
// one replica, a session held in memory.
//
// It is rendezvous (highest random weight) hashing: every backend gets a
// score from hash(key, backend) and the highest wins. When a backend leaves,
// only the keys it won move, each to its runner-up; when one joins, it takes
// about 1/n of the keys from all the others. That is what a hash ring gives,
// without the ring's uneven arcs or its virtual nodes, for the O(n) scores a
// pool of a few dozen backends can easily afford. Weights scale the scores
// (weighted rendezvous: w / -ln(u)), so a backend of weight 2 wins twice
// the keys.
//
// With a balance factor (percent, >= 100, HAProxy's hash-balance-factor),
// loads are bounded as in Mirrokni, Thorup and Zadimoghaddam's "consistent
// hashing with bounded loads": no backend takes a request that would put
// its in-flight count above factor% of its fair share, so a hot key spills
// over to its runner-up instead of overloading one replica. Walking the
// ranking until a backend has room is the same as taking the best score
// among backends with room, so that is one pass too.
type Hash struct {
	key      HashKey
	factor   int64 // percent; 0 means unbounded
	fallback Policy
}

// NewHash returns a hashing policy. balanceFactor is 0 (no bound) or a
// percentage of at least 100. Requests without a key (no such header or
// cookie) cannot be sticky; they are spread by least-request instead of
// all landing on the backend that the empty key hashes to.
func NewHash(key HashKey, balanceFactor int) *Hash {
	return &Hash{key: key, factor: int64(balanceFactor), fallback: NewLeastRequest()}
}

// Pick returns the highest-scoring backend for the request's key, among
// those with room when loads are bounded.
func (p *Hash) Pick(r *http.Request, backends []*Backend) *Backend {
	if len(backends) <= 1 {
		if len(backends) == 0 {
			return nil
		}
		return backends[0]
	}
	key, ok := p.key.of(r)
	if !ok {
		return p.fallback.Pick(r, backends)
	}
	kh := hashString(key)

	var total, weights int64
	if p.factor > 0 {
		total = 1 // the request being placed
		for _, b := range backends {
			total += b.InFlight()
			weights += b.weight()
		}
	}
	var best, bestRoomy *Backend
	var bestScore, bestRoomyScore float64
	for _, b := range backends {
		s := score(kh, b)
		if best == nil || s > bestScore {
			best, bestScore = b, s
		}
		if p.factor > 0 && (bestRoomy == nil || s > bestRoomyScore) && p.hasRoom(b, total, weights) {
			bestRoomy, bestRoomyScore = b, s
		}
	}
	// Some backend always has room when the in-flight counts add up, but
	// they are read one by one while other requests change them: when none
	// seemed to, stickiness wins.
	if bestRoomy != nil {
		return bestRoomy
	}
	return best
}

// hasRoom reports whether one more request keeps b within its bound:
// ceil(factor% × total × weight/weights), the fair share of the total
// in-flight load (this request included) stretched by the factor.
func (p *Hash) hasRoom(b *Backend, total, weights int64) bool {
	num := p.factor * total * b.weight()
	den := 100 * weights
	limit := (num + den - 1) / den
	return b.InFlight()+1 <= limit
}

// score is the weighted rendezvous score of backend b for key hash kh.
func score(kh uint64, b *Backend) float64 {
	// 53 random bits as a float strictly inside (0, 1).
	u := (float64(mix(kh^b.id)>>11) + 0.5) / (1 << 53)
	return float64(b.weight()) / -math.Log(u)
}

// HashKey says what a request is hashed on: a header, a cookie, or the
// client's address.
type HashKey struct {
	kind string // "header", "cookie" or "client"
	name string
}

// ParseHashKey parses "header:X-User", "cookie:sid" or "client".
func ParseHashKey(s string) (HashKey, error) {
	kind, name, _ := strings.Cut(strings.TrimSpace(s), ":")
	kind, name = strings.ToLower(strings.TrimSpace(kind)), strings.TrimSpace(name)
	switch kind {
	case "client":
		if name != "" {
			return HashKey{}, fmt.Errorf("%q: client takes no name", s)
		}
		return HashKey{kind: kind}, nil
	case "header", "cookie":
		if name == "" {
			return HashKey{}, fmt.Errorf("%q: want %s:NAME", s, kind)
		}
		if strings.ContainsAny(name, " \t,;=\"") {
			return HashKey{}, fmt.Errorf("%q: %q is not a valid %s name", s, name, kind)
		}
		if kind == "header" {
			name = http.CanonicalHeaderKey(name)
		}
		return HashKey{kind: kind, name: name}, nil
	}
	return HashKey{}, errors.New("want header:NAME, cookie:NAME or client, got " + fmt.Sprintf("%q", s))
}

func (k HashKey) String() string {
	if k.kind == "client" {
		return k.kind
	}
	return k.kind + ":" + k.name
}

// of returns the request's key, and false when it has none.
func (k HashKey) of(r *http.Request) (string, bool) {
	switch k.kind {
	case "header":
		v := r.Header.Get(k.name)
		return v, v != ""
	case "cookie":
		c, err := r.Cookie(k.name)
		if err != nil || c.Value == "" {
			return "", false
		}
		return c.Value, true
	default:
		a := ClientAddr(r)
		return a, a != ""
	}
}

// hashString is 64-bit FNV-1a: stable across processes and versions (so
// every lb replica, and the next release, sends a key to the same backend),
// and free of allocations, unlike hash/fnv behind its interface.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix is SplitMix64's finalizer. FNV of similar keys ("user-1", "user-2")
// differ in few bits; mixing spreads every input bit over the whole word,
// so scores of one key for different backends are independent.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
