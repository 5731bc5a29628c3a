package shard

// hash64 turns a key into 64 well-mixed bits. It must give the same answer in
// every process on every machine, forever: the shard a user's row lives on is
// derived from it. That rules out hash/maphash (randomly seeded per process)
// and Go's map hash. FNV-1a alone is deterministic but mixes poorly: keys
// that differ only in their last byte (user ids "41", "42", ...) differ mostly
// in the low bits, while Jump consumes the high bits. A finalizer fixes that.
func hash64(key string) uint64 { return mix64(fnv1a64(key)) }

// fnv1a64 is 64-bit FNV-1a, the same as hash/fnv's New64a but without the
// allocation of a hash.Hash and a []byte copy of the key.
func fnv1a64(s string) uint64 {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime64
	}
	return h
}

// mix64 is MurmurHash3's 64-bit finalizer (fmix64): a bijection in which every
// input bit flips each output bit with probability close to 1/2.
func mix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}
