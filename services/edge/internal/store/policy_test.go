package store

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

func nodes(sizes map[string]int64) map[string]*node[int] {
	m := map[string]*node[int]{}
	for k, s := range sizes {
		m[k] = &node[int]{key: k, size: s}
	}
	return m
}

// The eviction order of S3-FIFO, step by step on the policy itself.
func TestS3FIFOEvictionOrder(t *testing.T) {
	t.Run("newcomer hit in small moves to main, one never hit leaves", func(t *testing.T) {
		p := newS3FIFO[int](100)
		n := nodes(map[string]int64{"a": 30, "b": 30, "c": 30})
		p.insert(n["a"])
		p.insert(n["b"])
		p.insert(n["c"])
		p.hit(n["a"])
		if v := p.evict(); v != n["b"] {
			t.Fatalf("evicted %v, want b (a was hit, so it moves to main)", v.key)
		}
		if n["a"].queue != &p.main || n["a"].freq.Load() != 0 {
			t.Errorf("a: in main %v, freq %d; want in main with its count reset", n["a"].queue == &p.main, n["a"].freq.Load())
		}
		if !p.ghost.take("b") {
			t.Error("b, evicted from small, is not in the ghost")
		}
	})
	t.Run("ghost sends a returning key to main", func(t *testing.T) {
		p := newS3FIFO[int](100)
		n := nodes(map[string]int64{"a": 30, "b": 30})
		p.insert(n["a"])
		if v := p.evict(); v != n["a"] {
			t.Fatalf("evicted %v, want a", v.key)
		}
		a2 := &node[int]{key: "a", size: 30}
		p.insert(a2)
		p.insert(n["b"])
		if a2.queue != &p.main || n["b"].queue != &p.small {
			t.Errorf("returning a in main %v, new b in small %v; want both", a2.queue == &p.main, n["b"].queue == &p.small)
		}
		if p.ghost.take("a") {
			t.Error("the ghost still remembers a after admitting it")
		}
	})
	t.Run("main gives a hit entry another pass, decrementing its count", func(t *testing.T) {
		p := newS3FIFO[int](100)
		n := nodes(map[string]int64{"old": 40, "new": 40})
		p.main.pushFront(n["old"])
		p.main.pushFront(n["new"])
		p.hit(n["old"])
		p.hit(n["old"])
		if v := p.evict(); v != n["new"] {
			t.Fatalf("evicted %v, want new (old was hit)", v.key)
		}
		if f := n["old"].freq.Load(); f != 1 {
			t.Errorf("old's count after one pass = %d, want 1", f)
		}
		if v := p.evict(); v != n["old"] {
			t.Fatalf("evicted %v, want old once its hits are spent", v)
		}
		if p.evict() != nil {
			t.Error("evict of an empty policy returned a node")
		}
	})
	t.Run("hits saturate at 3", func(t *testing.T) {
		p := newS3FIFO[int](100)
		a := &node[int]{key: "a", size: 1}
		p.insert(a)
		for range 10 {
			p.hit(a)
		}
		if f := a.freq.Load(); f != 3 {
			t.Errorf("count = %d, want 3", f)
		}
	})
	t.Run("small is evicted first only while it holds its share", func(t *testing.T) {
		p := newS3FIFO[int](1000) // small's share: 100 bytes
		n := nodes(map[string]int64{"m": 500, "s": 50})
		p.main.pushFront(n["m"])
		p.insert(n["s"])
		if v := p.evict(); v != n["m"] {
			t.Errorf("evicted %v, want m: small is under its 10%%", v.key)
		}
	})
}

// A scan of URLs asked once flushes a hot entry out of LRU but not out of
// S3-FIFO, whose small queue absorbs it.
func TestScanResistance(t *testing.T) {
	want := map[Policy]bool{LRU: false, S3FIFO: true}
	for _, p := range Policies {
		s := NewPolicy[int](p, 1000, nil)
		s.Set("hot", 1, 100)
		s.Get("hot")
		for i := range 50 {
			s.Set(fmt.Sprint("scan-", i), i, 100)
		}
		if _, ok := s.Get("hot"); ok != want[p] {
			t.Errorf("%s: hot entry kept %v after a scan of 50 one-hit entries, want %v", p, ok, want[p])
		}
	}
}

// check verifies the store's invariants: bytes within the budget and equal
// to the sum of the entries, the policy's queues holding exactly the
// entries, the tag index and prefixes matching the values.
func check[V comparable](t *testing.T, s *Store[V]) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bytes > s.maxBytes || s.bytes < 0 {
		t.Fatalf("bytes %d outside [0, %d]", s.bytes, s.maxBytes)
	}
	var sum int64
	for k, n := range s.items {
		if n.key != k || n.queue == nil {
			t.Fatalf("entry %q: key %q, queued %v", k, n.key, n.queue != nil)
		}
		sum += n.size
	}
	if sum != s.bytes {
		t.Fatalf("bytes %d, entries sum to %d", s.bytes, sum)
	}
	var queues []*queue[V]
	switch p := s.policy.(type) {
	case *lru[V]:
		queues = []*queue[V]{&p.q}
	case *s3fifo[V]:
		queues = []*queue[V]{&p.small, &p.main}
	}
	count, qbytes := 0, int64(0)
	for _, q := range queues {
		var b int64
		n := 0
		for e := q.back(); e != nil && e != &q.root; e = e.prev {
			if s.items[e.key] != e {
				t.Fatalf("queue holds %q, which the map does not", e.key)
			}
			b += e.size
			n++
		}
		if n != q.len || b != q.bytes {
			t.Fatalf("queue counts %d entries, %d bytes; holds %d, %d", q.len, q.bytes, n, b)
		}
		count += n
		qbytes += b
	}
	if count != len(s.items) || qbytes != s.bytes {
		t.Fatalf("queues hold %d entries (%d bytes), map %d (%d)", count, qbytes, len(s.items), s.bytes)
	}
	if s.tags != nil {
		want := map[string]map[string]struct{}{}
		for k, n := range s.items {
			for _, tg := range s.tags(n.value) {
				if want[tg] == nil {
					want[tg] = map[string]struct{}{}
				}
				want[tg][k] = struct{}{}
			}
		}
		if !maps.EqualFunc(want, s.byTag, func(a, b map[string]struct{}) bool { return maps.Equal(a, b) }) {
			t.Fatalf("tag index %v, values say %v", s.byTag, want)
		}
	}
}

type tv struct {
	id   int
	tags []string
}

// TestRandomOperations runs a random mix of every operation on both
// policies and checks the invariants after each one, then that tag and
// prefix lookups agree with what a Get finds.
func TestRandomOperations(t *testing.T) {
	for _, p := range Policies {
		t.Run(string(p), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 11))
			s := NewPolicy(p, 5000, func(v *tv) []string { return v.tags })
			colors := []string{"red", "green", "blue"}
			val := func(i int) *tv {
				return &tv{id: i, tags: []string{colors[(i%3+3)%3], fmt.Sprint("id-", i%17)}}
			}
			for i := range 20000 {
				k := fmt.Sprintf("/%c/%d", 'a'+rng.IntN(3), rng.IntN(200))
				switch rng.IntN(6) {
				case 0, 1:
					s.Set(k, val(i), 1+rng.Int64N(600))
				case 2:
					s.Get(k)
				case 3:
					s.Delete(k)
				case 4:
					if v, ok := s.Get(k); ok && rng.IntN(2) == 0 {
						s.DeleteIf(k, v)
					} else {
						s.DeleteIf(k, val(-1))
					}
				case 5:
					s.Update(k, func(old *tv, ok bool) (*tv, int64, bool) {
						if !ok {
							return val(i), 100, true
						}
						return &tv{id: old.id, tags: append(slices.Clone(old.tags), "updated")}, 1 + rng.Int64N(6000), rng.IntN(5) > 0
					})
				}
				check(t, s)
			}
			if s.Evictions() == 0 {
				t.Fatal("the mix evicted nothing; it does not test eviction")
			}
			for _, c := range append(colors, "updated") {
				for _, k := range s.KeysWithTag(c) {
					if v, ok := s.Get(k); !ok || !slices.Contains(v.tags, c) {
						t.Errorf("KeysWithTag(%q) lists %q, holding %v (present %v)", c, k, v, ok)
					}
				}
			}
			for _, prefix := range []string{"/a/", "/b/1"} {
				got := s.KeysWithPrefix(prefix)
				for _, k := range got {
					if !strings.HasPrefix(k, prefix) {
						t.Errorf("KeysWithPrefix(%q) lists %q", prefix, k)
					}
				}
				n := 0
				for i := range 200 {
					k := fmt.Sprintf("/%c/%d", prefix[1], i)
					if _, ok := s.Get(k); ok && strings.HasPrefix(k, prefix) {
						n++
					}
				}
				if n != len(got) {
					t.Errorf("KeysWithPrefix(%q) lists %d keys, %d are stored", prefix, len(got), n)
				}
			}
		})
	}
}

// TestConcurrentPolicies is for the race detector: hits under the read
// lock, sets, updates and deletes at once, with the budget holding.
func TestConcurrentPolicies(t *testing.T) {
	for _, p := range Policies {
		t.Run(string(p), func(t *testing.T) {
			s := NewPolicy(p, 2000, func(v *tv) []string { return v.tags })
			var wg sync.WaitGroup
			for g := range 6 {
				wg.Go(func() {
					for i := range 2000 {
						k := fmt.Sprint((g*13 + i) % 64)
						switch i % 5 {
						case 0:
							s.Set(k, &tv{id: i, tags: []string{"t" + k}}, int64(i%300))
						case 1, 2:
							s.Get(k)
						case 3:
							s.Update(k, func(old *tv, ok bool) (*tv, int64, bool) { return &tv{id: i}, 50, ok })
						case 4:
							s.Delete(k)
						}
						if b := s.Bytes(); b > 2000 || b < 0 {
							t.Errorf("Bytes = %d, outside [0, 2000]", b)
							return
						}
					}
				})
			}
			wg.Wait()
			check(t, s)
		})
	}
}

func TestParsePolicy(t *testing.T) {
	for in, want := range map[string]Policy{"lru": LRU, "S3FIFO": S3FIFO, " s3fifo ": S3FIFO} {
		if got, err := ParsePolicy(in); err != nil || got != want {
			t.Errorf("ParsePolicy(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParsePolicy("arc"); err == nil {
		t.Error("ParsePolicy(arc) accepted an unknown policy")
	}
}

func BenchmarkGetParallel(b *testing.B) {
	for _, p := range Policies {
		b.Run(string(p), func(b *testing.B) {
			s := NewPolicy[int](p, 1<<20, nil)
			for i := range 1000 {
				s.Set(fmt.Sprint(i), i, 100)
			}
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					s.Get(fmt.Sprint(i % 1000))
					i++
				}
			})
		})
	}
}

// Peek reads without counting an access: it neither refreshes an LRU entry
// nor promotes an S3-FIFO one.
func TestPeekIsNotAnAccess(t *testing.T) {
	for _, p := range Policies {
		s := NewPolicy[int](p, 100, nil)
		s.Set("a", 1, 40)
		s.Set("b", 2, 40)
		if v, ok := s.Peek("a"); !ok || v != 1 {
			t.Fatalf("%s: Peek(a) = %d, %v", p, v, ok)
		}
		s.Set("c", 3, 40) // evicts a, as if never read
		if _, ok := s.Peek("a"); ok {
			t.Errorf("%s: a survived an eviction after a Peek, as if it had been read", p)
		}
		if _, ok := s.Peek("b"); !ok {
			t.Errorf("%s: b was evicted instead of a", p)
		}
	}
}
