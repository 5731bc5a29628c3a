package shard

import "strconv"

// Rendezvous is consistent hashing by highest random weight (Thaler and
// Ravishankar, 1996): every shard scores the key with a hash of (key, shard)
// and the highest score wins.
//
// Adding a shard moves only the keys the new shard now wins, about 1/(N+1).
// Unlike Jump, removing any shard, not only the last, moves only that shard's
// keys: the other shards' scores do not change, so each of its keys goes to
// its runner-up and no other key moves. For that to hold a shard must be
// identified by something that outlives its position in the list, so
// NewRendezvous takes names (a host name, say "pg-users-2"). The cost is O(N)
// per lookup, which is nothing for a handful of shards.
//
// The zero value has no shards; build one with NewRendezvous.
type Rendezvous struct {
	seeds []uint64 // one per shard, derived from its name
}

// NewRendezvous returns a router over the named shards; Shard returns an index
// into names. Names should be distinct: two equal names are the same shard
// and the second never wins.
func NewRendezvous(names ...string) Rendezvous {
	seeds := make([]uint64, len(names))
	for i, name := range names {
		seeds[i] = hash64(name)
	}
	return Rendezvous{seeds: seeds}
}

// numbered returns a Rendezvous over n shards named "0", "1", ... "n-1".
func numbered(n int) Rendezvous {
	names := make([]string, n)
	for i := range names {
		names[i] = strconv.Itoa(i)
	}
	return NewRendezvous(names...)
}

// Shard returns the index of the shard whose score for key is highest.
func (r Rendezvous) Shard(key string) int {
	if len(r.seeds) == 0 {
		panic("shard: Rendezvous needs at least 1 shard")
	}
	k := hash64(key)
	best, top := 0, uint64(0)
	for i, seed := range r.seeds {
		if w := mix64(k ^ seed); i == 0 || w > top {
			best, top = i, w
		}
	}
	return best
}

// Shards returns the number of shards.
func (r Rendezvous) Shards() int { return len(r.seeds) }
