// Package store is the edge's memory: a map from key to value bounded by a
// budget of bytes, evicting the least recently used entries when a new one
// does not fit.
//
// A CDN cache is bounded by memory, not by a count of objects: one 8 MiB
// video weighs as much as thousands of small icons. So every Set says how
// many bytes its value costs, and the store evicts by bytes.
package store

import (
	"container/list"
	"sync"
)

// Store is an LRU cache bounded by bytes. It is safe for concurrent use.
// The zero value is not usable; call New. Values are comparable so that
// DeleteIf can tell whether the stored value is the one the caller has.
type Store[V comparable] struct {
	mu        sync.Mutex
	maxBytes  int64
	bytes     int64
	evictions uint64
	// order holds *item, most recently used at the front. The map points
	// into the list so Get, Set and Delete are all O(1).
	order *list.List
	items map[string]*list.Element
}

type item[V comparable] struct {
	key   string
	value V
	size  int64
}

// New returns a store that holds at most maxBytes bytes of values.
func New[V comparable](maxBytes int64) *Store[V] {
	return &Store[V]{maxBytes: maxBytes, order: list.New(), items: make(map[string]*list.Element)}
}

// Get returns the value stored under key and marks it as recently used.
func (s *Store[V]) Get(key string) (V, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	s.order.MoveToFront(el)
	return el.Value.(*item[V]).value, true
}

// Set stores value under key, costing size bytes, replacing any value the
// key had, and evicts the least recently used entries until the budget
// holds. A value larger than the whole budget is not stored (it would evict
// everything and then itself); Set reports whether the value was stored.
func (s *Store[V]) Set(key string, value V, size int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.items[key]; ok {
		// The old value is outdated whether or not the new one fits.
		s.remove(el)
	}
	if size < 0 || size > s.maxBytes {
		return false
	}
	s.items[key] = s.order.PushFront(&item[V]{key: key, value: value, size: size})
	s.bytes += size
	for s.bytes > s.maxBytes {
		s.remove(s.order.Back())
		s.evictions++
	}
	return true
}

// Delete removes key, if present.
func (s *Store[V]) Delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.items[key]; ok {
		s.remove(el)
	}
}

// DeleteIf removes key only when the value stored under it is still v, and
// reports whether it did. Get followed by Delete would race: between them
// another goroutine may Set a new value, which Delete would then drop.
func (s *Store[V]) DeleteIf(key string, v V) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.items[key]
	if !ok || el.Value.(*item[V]).value != v {
		return false
	}
	s.remove(el)
	return true
}

func (s *Store[V]) remove(el *list.Element) {
	it := s.order.Remove(el).(*item[V])
	delete(s.items, it.key)
	s.bytes -= it.size
}

// Len is the number of entries.
func (s *Store[V]) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.order.Len()
}

// Bytes is the sum of the sizes of the entries.
func (s *Store[V]) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// MaxBytes is the budget the store was created with.
func (s *Store[V]) MaxBytes() int64 { return s.maxBytes }

// Evictions counts entries removed to make room since the store was made
// (not those replaced or deleted).
func (s *Store[V]) Evictions() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.evictions
}
