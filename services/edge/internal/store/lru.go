package store

// lru keeps entries most recently used first and evicts from the back.
type lru[V comparable] struct {
	q queue[V]
}

func (p *lru[V]) name() Policy { return LRU }

// concurrentHits is false: a hit moves the entry to the front.
func (p *lru[V]) concurrentHits() bool { return false }

func (p *lru[V]) insert(n *node[V]) { p.q.pushFront(n) }

func (p *lru[V]) hit(n *node[V]) {
	p.q.unlink(n)
	p.q.pushFront(n)
}

func (p *lru[V]) resized(n *node[V], delta int64) { p.q.bytes += delta }

func (p *lru[V]) remove(n *node[V]) { p.q.unlink(n) }

func (p *lru[V]) evict() *node[V] {
	n := p.q.back()
	if n != nil {
		p.q.unlink(n)
	}
	return n
}
