package store

import "hash/maphash"

// s3fifo is S3-FIFO (Yang, Zhang, Qiu, Yue, Rashmi: "FIFO queues are all
// you need for cache eviction", SOSP 2023), by bytes instead of by count:
//
//   - small: a FIFO of about 10% of the budget where newcomers land. Most
//     objects in a CDN trace are asked once ("one-hit wonders"); they leave
//     from here without ever pushing a popular object out of main.
//   - main: a FIFO of the rest. An object leaves its back only when it has
//     not been hit since it last passed there (CLOCK-like reinsertion with
//     a 2-bit counter, decremented on each pass).
//   - ghost: the keys (hashes and sizes, no values) recently evicted from
//     small, remembering as many bytes as main holds. A miss on a key the
//     ghost remembers goes straight into main: it came back, so it was not
//     a one-hit wonder, just evicted before its second request.
//
// A hit increments the entry's counter (up to 3) atomically and moves
// nothing, so hits run concurrently under the store's read lock.
type s3fifo[V comparable] struct {
	small, main queue[V]
	smallTarget int64 // 10% of the budget
	ghost       ghost
}

func newS3FIFO[V comparable](maxBytes int64) *s3fifo[V] {
	return &s3fifo[V]{
		smallTarget: maxBytes / 10,
		ghost:       ghost{seed: maphash.MakeSeed(), maxBytes: maxBytes - maxBytes/10, index: make(map[uint64]uint64)},
	}
}

func (p *s3fifo[V]) name() Policy         { return S3FIFO }
func (p *s3fifo[V]) concurrentHits() bool { return true }

func (p *s3fifo[V]) insert(n *node[V]) {
	n.freq.Store(0)
	if p.ghost.take(n.key) {
		p.main.pushFront(n)
		return
	}
	p.small.pushFront(n)
}

// hit counts an access, saturating at 3.
func (p *s3fifo[V]) hit(n *node[V]) {
	for {
		f := n.freq.Load()
		if f >= 3 || n.freq.CompareAndSwap(f, f+1) {
			return
		}
	}
}

func (p *s3fifo[V]) resized(n *node[V], delta int64) { n.queue.bytes += delta }

func (p *s3fifo[V]) remove(n *node[V]) { n.queue.unlink(n) }

// evict moves entries along until one leaves: from small when small holds
// its share of the budget (or main is empty), else from main.
func (p *s3fifo[V]) evict() *node[V] {
	for {
		if p.small.len > 0 && (p.small.bytes >= p.smallTarget || p.main.len == 0) {
			n := p.small.back()
			p.small.unlink(n)
			if n.freq.Load() > 0 {
				// Hit while on probation: promoted, and it must be hit
				// again in main to survive its first pass there.
				n.freq.Store(0)
				p.main.pushFront(n)
				continue
			}
			p.ghost.add(n.key, n.size, p.main.len+p.small.len)
			return n
		}
		n := p.main.back()
		if n == nil {
			return nil
		}
		p.main.unlink(n)
		if f := n.freq.Load(); f > 0 {
			n.freq.Store(f - 1)
			p.main.pushFront(n)
			continue
		}
		return n
	}
}

// ghost is a FIFO of the hashes of evicted keys, bounded by the bytes of
// the objects it remembers (at most what main holds) and by count (at most
// the number of entries cached), so its own memory, about 40 bytes a key,
// stays a small fraction of the budget's.
type ghost struct {
	seed     maphash.Seed
	maxBytes int64
	bytes    int64
	seq      uint64
	entries  []ghostEntry // FIFO: entries[head:] are live, oldest first
	head     int
	// index maps a hash to the seq of its latest entry: an entry whose seq
	// is no longer there was taken or re-added since, and popping it
	// leaves the index alone.
	index map[uint64]uint64
}

type ghostEntry struct {
	hash, seq uint64
	size      int64
}

func (g *ghost) hash(key string) uint64 { return maphash.String(g.seed, key) }

// take reports whether key was remembered, forgetting it.
func (g *ghost) take(key string) bool {
	h := g.hash(key)
	if _, ok := g.index[h]; !ok {
		return false
	}
	delete(g.index, h)
	return true
}

// add remembers key, forgetting the oldest keys beyond the bounds; maxCount
// is the number of entries cached.
func (g *ghost) add(key string, size int64, maxCount int) {
	g.seq++
	h := g.hash(key)
	g.index[h] = g.seq
	g.entries = append(g.entries, ghostEntry{hash: h, seq: g.seq, size: size})
	g.bytes += size
	for g.head < len(g.entries) && (g.bytes > g.maxBytes || len(g.entries)-g.head > max(maxCount, 1)) {
		e := g.entries[g.head]
		g.head++
		g.bytes -= e.size
		if g.index[e.hash] == e.seq {
			delete(g.index, e.hash)
		}
	}
	// Compact once half the slice is dead, so it does not grow forever.
	if g.head > 1024 && g.head*2 > len(g.entries) {
		g.entries = append(g.entries[:0], g.entries[g.head:]...)
		g.head = 0
	}
}
