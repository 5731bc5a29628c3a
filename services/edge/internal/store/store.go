// Package store is the edge's memory: a map from key to value bounded by a
// budget of bytes, evicting entries by a policy (LRU or S3-FIFO) when a new
// one does not fit.
//
// A CDN cache is bounded by memory, not by a count of objects: one 8 MiB
// video weighs as much as thousands of small icons. So every Set says how
// many bytes its value costs, and the store evicts by bytes.
//
// The map, the byte accounting and the tag index live here; a policy only
// orders the entries and picks the next victim (policy.go, lru.go,
// s3fifo.go). Adding a policy is adding a file.
package store

import (
	"strings"
	"sync"
)

// Store is a cache bounded by bytes. It is safe for concurrent use.
// The zero value is not usable; call New. Values are comparable so that
// DeleteIf can tell whether the stored value is the one the caller has.
type Store[V comparable] struct {
	// mu guards everything below. Get takes only the read lock when the
	// policy records a hit without moving entries (S3-FIFO: an atomic
	// counter), so hits on different keys do not queue behind each other.
	mu        sync.RWMutex
	maxBytes  int64
	bytes     int64
	evictions uint64
	policy    policy[V]
	items     map[string]*node[V]
	// tags, when set, names the tags of a value (the edge's surrogate
	// keys); byTag indexes the keys holding each tag, kept in step with
	// every add and removal under mu, so a purge by tag never misses a key
	// and the index never outgrows the store.
	tags  func(V) []string
	byTag map[string]map[string]struct{}
}

// New returns a store that holds at most maxBytes bytes of values, evicting
// by DefaultPolicy.
func New[V comparable](maxBytes int64) *Store[V] {
	return NewPolicy[V](DefaultPolicy, maxBytes, nil)
}

// NewTagged is New with a tag index: tags(v) lists the tags of a value
// (it must return the same tags for the same value every time), and
// KeysWithTag finds the keys holding one.
func NewTagged[V comparable](maxBytes int64, tags func(V) []string) *Store[V] {
	return NewPolicy(DefaultPolicy, maxBytes, tags)
}

// NewPolicy returns a store evicting by policy p (an unknown name means
// DefaultPolicy), with a tag index when tags is not nil.
func NewPolicy[V comparable](p Policy, maxBytes int64, tags func(V) []string) *Store[V] {
	s := &Store[V]{maxBytes: maxBytes, items: make(map[string]*node[V]), policy: newPolicy[V](p, maxBytes)}
	if tags != nil {
		s.tags = tags
		s.byTag = make(map[string]map[string]struct{})
	}
	return s
}

// Policy is the name of the eviction policy in use.
func (s *Store[V]) Policy() Policy { return s.policy.name() }

// Get returns the value stored under key and records the access with the
// policy (LRU: most recently used; S3-FIFO: one more hit, up to 3).
func (s *Store[V]) Get(key string) (V, bool) {
	if s.policy.concurrentHits() {
		s.mu.RLock()
		defer s.mu.RUnlock()
	} else {
		s.mu.Lock()
		defer s.mu.Unlock()
	}
	n, ok := s.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	s.policy.hit(n)
	return n.value, true
}

// Peek returns the value stored under key without counting an access: for
// the cache's own bookkeeping (did my fill land? is there a fresher copy?),
// which must not make an entry look popular to the policy.
func (s *Store[V]) Peek(key string) (V, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, ok := s.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	return n.value, true
}

// Set stores value under key, costing size bytes, replacing any value the
// key had, and evicts entries until the budget holds. A value larger than
// the whole budget is not stored (it would evict everything and then
// itself), and the old value is dropped. Set reports whether the value is
// stored when it returns: a policy with admission (S3-FIFO) may evict a new
// value at once when making room for it.
func (s *Store[V]) Set(key string, value V, size int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.put(key, value, size)
}

// put stores value under key; the caller holds mu. A key already present
// keeps its place in the policy's order (its new value counts as an
// access), so a refreshed entry is not treated as a newcomer.
func (s *Store[V]) put(key string, value V, size int64) bool {
	n, ok := s.items[key]
	if size < 0 || size > s.maxBytes {
		if ok {
			// The old value is outdated whether or not the new one fits.
			s.remove(n)
		}
		return false
	}
	if ok {
		s.untag(n)
		delta := size - n.size
		n.value, n.size = value, size
		s.bytes += delta
		s.policy.resized(n, delta)
		s.policy.hit(n)
		s.tag(n)
	} else {
		n = &node[V]{key: key, value: value, size: size}
		s.items[key] = n
		s.bytes += size
		s.policy.insert(n)
		s.tag(n)
	}
	for s.bytes > s.maxBytes {
		v := s.policy.evict()
		if v == nil {
			break // cannot happen: bytes > 0 means some entry is held
		}
		s.drop(v)
		s.evictions++
	}
	return s.items[key] == n
}

func (s *Store[V]) tag(n *node[V]) {
	if s.tags == nil {
		return
	}
	for _, t := range s.tags(n.value) {
		keys := s.byTag[t]
		if keys == nil {
			keys = make(map[string]struct{})
			s.byTag[t] = keys
		}
		keys[n.key] = struct{}{}
	}
}

func (s *Store[V]) untag(n *node[V]) {
	if s.tags == nil {
		return
	}
	for _, t := range s.tags(n.value) {
		if keys := s.byTag[t]; keys != nil {
			delete(keys, n.key)
			if len(keys) == 0 {
				delete(s.byTag, t)
			}
		}
	}
}

// Update replaces the value under key with what f makes of the current one,
// atomically: no Set or Delete can come between reading old and storing the
// new value. f gets the current value (ok false when absent) and returns the
// new value and its size, or keep false to leave the key empty. Update
// reports whether a value is stored under key when it returns. f runs with
// the store locked: it must not call the store.
func (s *Store[V]) Update(key string, f func(old V, ok bool) (v V, size int64, keep bool)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	var old V
	n, ok := s.items[key]
	if ok {
		old = n.value
	}
	v, size, keep := f(old, ok)
	if !keep {
		if ok {
			s.remove(n)
		}
		return false
	}
	if ok && v == old && n.size == size {
		s.policy.hit(n)
		return true
	}
	return s.put(key, v, size)
}

// KeysWithTag returns the keys whose values carry tag.
func (s *Store[V]) KeysWithTag(tag string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	keys := make([]string, 0, len(s.byTag[tag]))
	for k := range s.byTag[tag] {
		keys = append(keys, k)
	}
	return keys
}

// KeysWithPrefix returns the keys that start with prefix. It looks at every
// key: fine for an operator's purge, not for a request path.
func (s *Store[V]) KeysWithPrefix(prefix string) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var keys []string
	for k := range s.items {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	return keys
}

// Delete removes key, if present, and reports whether it was.
func (s *Store[V]) Delete(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.items[key]; ok {
		s.remove(n)
		return true
	}
	return false
}

// DeleteIf removes key only when the value stored under it is still v, and
// reports whether it did. Get followed by Delete would race: between them
// another goroutine may Set a new value, which Delete would then drop.
func (s *Store[V]) DeleteIf(key string, v V) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.items[key]
	if !ok || n.value != v {
		return false
	}
	s.remove(n)
	return true
}

// remove takes n out of the policy's order and drops it: a deletion, which
// the policy does not remember (an evicted key may be, by S3-FIFO's ghost).
func (s *Store[V]) remove(n *node[V]) {
	s.policy.remove(n)
	s.drop(n)
}

// drop forgets n, already out of the policy's order.
func (s *Store[V]) drop(n *node[V]) {
	delete(s.items, n.key)
	s.bytes -= n.size
	s.untag(n)
}

// Tags is the number of distinct tags indexed (for tests and metrics).
func (s *Store[V]) Tags() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byTag)
}

// Len is the number of entries.
func (s *Store[V]) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.items)
}

// Bytes is the sum of the sizes of the entries.
func (s *Store[V]) Bytes() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.bytes
}

// MaxBytes is the budget the store was created with.
func (s *Store[V]) MaxBytes() int64 { return s.maxBytes }

// Evictions counts entries removed to make room since the store was made
// (not those replaced or deleted).
func (s *Store[V]) Evictions() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.evictions
}
