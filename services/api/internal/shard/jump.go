package shard

// Jump is consistent hashing by Jump consistent hash (Lamping and Veach,
// "A Fast, Minimal Memory, Consistent Hash Algorithm", 2014).
//
// Why jump hash:
//   - Perfect balance: every shard gets 1/N of the keys, up to sampling noise.
//   - Minimal movement: going from N to N+1 shards moves exactly the keys the
//     new shard must take, about 1/(N+1) of them, and every one of them moves
//     to the new shard; no key moves between old shards. Modulo moves about
//     N/(N+1) of the keys (3→4: three quarters).
//   - No memory and no setup: a loop of O(ln N) multiplications per lookup,
//     nothing to build, nothing to keep in sync between api replicas.
//
// Why not a hash ring: a ring places V points ("virtual nodes") per shard on a
// circle and gives each key to the next point clockwise. A shard's share is
// the sum of V random arcs, so it is off the mean by about 1/sqrt(V): with one
// point per shard the largest shard typically holds several times the keys of
// the smallest, with 10 points about ±30% (the largest near twice the
// smallest), and it takes hundreds to thousands of points per shard, a sorted
// table and a binary search per lookup to get within a few percent. Jump is
// within sampling noise of 1/N with none of it. TestReportBalanceAndMovement
// prints the numbers.
//
// The limitation: shards are numbered 0..N-1 and can only be added or removed
// at the end. That matches a numbered list of shard databases that grows
// (pg-users-0, -1, -2, then -3); to retire a shard in the middle, use
// Rendezvous.
//
// N must be at least 1 (New checks it) and below 2^31, as in the paper.
type Jump struct{ N int }

// Shard returns jump(hash64(key), N).
func (j Jump) Shard(key string) int { return jump(hash64(key), j.N) }

// Shards returns N.
func (j Jump) Shards() int { return j.N }

// jump is the algorithm of the paper. Think of following a key as the number
// of shards grows from 1: it stays put, and at each step n it jumps to the new
// shard n-1 with probability 1/n, which is what keeps both the balance and the
// movement minimal. Rather than testing every n, the loop draws from a
// pseudo-random sequence seeded by the key the next n at which the key jumps,
// and stops once that is past the number of shards.
func jump(key uint64, n int) int {
	if n < 1 {
		panic("shard: Jump needs at least 1 shard")
	}
	var b, j int64 = -1, 0
	for j < int64(n) {
		b = j
		key = key*2862933555777941757 + 1 // 64-bit linear congruential step
		j = int64(float64(b+1) * (float64(1<<31) / float64((key>>33)+1)))
	}
	return int(b)
}
