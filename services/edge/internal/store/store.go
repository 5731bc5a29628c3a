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
	"strings"
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
	// tags, when set, names the tags of a value (the edge's surrogate
	// keys); byTag indexes the keys holding each tag, kept in step with
	// every add and removal under mu, so a purge by tag never misses a key
	// and the index never outgrows the store.
	tags  func(V) []string
	byTag map[string]map[string]struct{}
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

// NewTagged is New with a tag index: tags(v) lists the tags of a value
// (it must return the same tags for the same value every time), and
// KeysWithTag finds the keys holding one.
func NewTagged[V comparable](maxBytes int64, tags func(V) []string) *Store[V] {
	s := New[V](maxBytes)
	s.tags = tags
	s.byTag = make(map[string]map[string]struct{})
	return s
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
	return s.add(key, value, size)
}

// add stores a value under a key that holds none; the caller holds mu.
func (s *Store[V]) add(key string, value V, size int64) bool {
	if size < 0 || size > s.maxBytes {
		return false
	}
	s.items[key] = s.order.PushFront(&item[V]{key: key, value: value, size: size})
	s.bytes += size
	if s.tags != nil {
		for _, t := range s.tags(value) {
			keys := s.byTag[t]
			if keys == nil {
				keys = make(map[string]struct{})
				s.byTag[t] = keys
			}
			keys[key] = struct{}{}
		}
	}
	for s.bytes > s.maxBytes {
		s.remove(s.order.Back())
		s.evictions++
	}
	return true
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
	el, ok := s.items[key]
	if ok {
		old = el.Value.(*item[V]).value
	}
	v, size, keep := f(old, ok)
	if ok {
		if keep && v == old && el.Value.(*item[V]).size == size {
			s.order.MoveToFront(el)
			return true
		}
		s.remove(el)
	}
	if !keep {
		return false
	}
	return s.add(key, v, size)
}

// KeysWithTag returns the keys whose values carry tag.
func (s *Store[V]) KeysWithTag(tag string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.byTag[tag]))
	for k := range s.byTag[tag] {
		keys = append(keys, k)
	}
	return keys
}

// KeysWithPrefix returns the keys that start with prefix. It looks at every
// key: fine for an operator's purge, not for a request path.
func (s *Store[V]) KeysWithPrefix(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
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
	if el, ok := s.items[key]; ok {
		s.remove(el)
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
	if s.tags != nil {
		for _, t := range s.tags(it.value) {
			if keys := s.byTag[t]; keys != nil {
				delete(keys, it.key)
				if len(keys) == 0 {
					delete(s.byTag, t)
				}
			}
		}
	}
}

// Tags is the number of distinct tags indexed (for tests and metrics).
func (s *Store[V]) Tags() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byTag)
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
