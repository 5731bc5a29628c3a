package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
)

// newIDPicker returns a function drawing ids from r, safe for concurrent use
// (vegeta's workers call the targeter at once).
//
// With Zipf the lowest id is the hottest (rank 1), the next one half as
// popular for s = 1, and so on: a handful of "celebrity" users get most of
// the traffic, which is what makes caches and shards interesting.
func newIDPicker(r IDRange, s float64) func() int64 {
	switch {
	case s == 0:
		// The top-level functions of math/rand/v2 are safe and lock-free.
		return func() int64 { return r.Lo + int64(rand.Uint64N(r.Size())) }
	case s > 1:
		// P(k) ∝ (1+k)^-s for k in [0, Hi-Lo]: rank k+1 has weight 1/rank^s.
		// *rand.Zipf is not safe for concurrent use: one lock, held for
		// a few nanoseconds.
		var mu sync.Mutex
		z := rand.NewZipf(rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), s, 1, r.Size()-1)
		return func() int64 {
			mu.Lock()
			defer mu.Unlock()
			return r.Lo + int64(z.Uint64())
		}
	default:
		// 0 < s <= 1: inverse-CDF lookup in a shared, read-only table.
		cdf := zipfCDF(r.Size(), s)
		return func() int64 {
			i, _ := slices.BinarySearch(cdf, rand.Float64())
			return r.Lo + int64(min(i, len(cdf)-1))
		}
	}
}

// zipfCDF returns the cumulative distribution over ranks 1..n with weight
// 1/rank^s (the same law rand.Zipf uses with v = 1).
func zipfCDF(n uint64, s float64) []float64 {
	cdf := make([]float64, n)
	sum := 0.0
	for i := range cdf {
		sum += math.Pow(float64(i+1), -s)
		cdf[i] = sum
	}
	for i := range cdf {
		cdf[i] /= sum
	}
	cdf[n-1] = 1 // guard against rounding leaving the last entry at 0.9999…
	return cdf
}
