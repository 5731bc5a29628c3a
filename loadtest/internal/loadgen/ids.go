package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
)

// newIDPicker returns a function drawing ids from r. Every worker gets its
// own picker because *rand.Rand and *rand.Zipf are not safe for concurrent
// use, and a shared locked generator would serialise the workers.
//
// With Zipf the lowest id is the hottest (rank 1), the next one half as
// popular for s = 1, and so on: a handful of "celebrity" users get most of
// the traffic, which is what makes caches and shards interesting.
func newIDPicker(r IDRange, s float64, cdf []float64) func() int64 {
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	switch {
	case s == 0:
		return func() int64 { return r.Lo + int64(rng.Uint64N(r.Size())) }
	case s > 1:
		// P(k) ∝ (1+k)^-s for k in [0, Hi-Lo]: rank k+1 has weight 1/rank^s.
		z := rand.NewZipf(rng, s, 1, r.Size()-1)
		return func() int64 { return r.Lo + int64(z.Uint64()) }
	default:
		// 0 < s <= 1: inverse-CDF lookup in the shared, read-only table.
		return func() int64 {
			i, _ := slices.BinarySearch(cdf, rng.Float64())
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
