package store

import (
	"fmt"
	"strings"
	"sync/atomic"
)

// Policy names an eviction policy: the value of EDGE_CACHE_POLICY.
type Policy string

const (
	// LRU evicts the least recently used entry: the classic, and the
	// baseline. One scan of cold objects (a crawler, a flood of unique
	// URLs) flushes everything hot.
	LRU Policy = "lru"
	// S3FIFO is S3-FIFO (Yang et al., "FIFO queues are all you need for
	// cache eviction", SOSP 2023): a small FIFO takes newcomers, which
	// move to the main FIFO only if hit while there, and a ghost queue
	// remembers the keys evicted from the small one so that their return
	// goes straight to main. Under Zipf popularity it keeps more of what
	// is asked again than LRU (see TestReportHitRatio), and a hit only
	// bumps a counter, with no list to reorder under a write lock.
	S3FIFO Policy = "s3fifo"
)

// DefaultPolicy is the policy New uses: the one with the better hit ratio
// in TestReportHitRatio.
const DefaultPolicy = S3FIFO

// Policies lists the known policies.
var Policies = []Policy{LRU, S3FIFO}

// ParsePolicy reads a policy name (case-insensitive).
func ParsePolicy(s string) (Policy, error) {
	p := Policy(strings.ToLower(strings.TrimSpace(s)))
	for _, k := range Policies {
		if p == k {
			return p, nil
		}
	}
	return "", fmt.Errorf("unknown cache policy %q (want lru or s3fifo)", s)
}

// node is one entry, linked into its policy's queue.
type node[V comparable] struct {
	key        string
	value      V
	size       int64
	prev, next *node[V]
	queue      *queue[V]    // the queue holding it; nil when in none
	freq       atomic.Int32 // S3-FIFO's hit counter, 0..3
}

// policy orders the entries of a store and chooses what to evict. Every
// method but hit runs under the store's write lock; hit runs under the read
// lock when concurrentHits says so, and must then be safe for concurrent
// use.
type policy[V comparable] interface {
	name() Policy
	concurrentHits() bool
	insert(n *node[V])               // a new entry
	hit(n *node[V])                  // an access (Get, or a new value for the key)
	resized(n *node[V], delta int64) // its size changed in place by delta
	remove(n *node[V])               // a deletion: leaves the order, not remembered
	evict() *node[V]                 // takes the next victim out of the order; nil when empty
}

func newPolicy[V comparable](p Policy, maxBytes int64) policy[V] {
	if p == LRU {
		return &lru[V]{}
	}
	return newS3FIFO[V](maxBytes)
}

// queue is an intrusive doubly linked list of nodes that knows its bytes:
// the front is the newest end.
type queue[V comparable] struct {
	root  node[V] // sentinel: root.next is the front, root.prev the back
	len   int
	bytes int64
}

func (q *queue[V]) lazyInit() {
	if q.root.next == nil {
		q.root.next, q.root.prev = &q.root, &q.root
	}
}

func (q *queue[V]) pushFront(n *node[V]) {
	q.lazyInit()
	n.prev, n.next = &q.root, q.root.next
	q.root.next.prev = n
	q.root.next = n
	n.queue = q
	q.len++
	q.bytes += n.size
}

func (q *queue[V]) unlink(n *node[V]) {
	n.prev.next = n.next
	n.next.prev = n.prev
	n.prev, n.next, n.queue = nil, nil, nil
	q.len--
	q.bytes -= n.size
}

// back returns the oldest node, or nil.
func (q *queue[V]) back() *node[V] {
	if q.len == 0 {
		return nil
	}
	return q.root.prev
}
