package balancer

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func weighted(ws ...int) []*Backend {
	bs := backends(len(ws))
	for i, w := range ws {
		bs[i].Weight = w
	}
	return bs
}

func names(bs []*Backend, picks []*Backend) string {
	idx := map[*Backend]string{}
	for i, b := range bs {
		idx[b] = string(rune('a' + i))
	}
	var out []string
	for _, p := range picks {
		out = append(out, idx[p])
	}
	return strings.Join(out, " ")
}

func pickN(p Policy, r *http.Request, bs []*Backend, n int) []*Backend {
	out := make([]*Backend, n)
	for i := range out {
		out[i] = p.Pick(r, bs)
	}
	return out
}

func count(picks []*Backend) map[*Backend]int {
	c := map[*Backend]int{}
	for _, p := range picks {
		c[p]++
	}
	return c
}

func TestSmoothWeightedSequence(t *testing.T) {
	tests := []struct {
		weights []int
		want    string
	}{
		// nginx's own example: the heavy backend's turns are spread out.
		{[]int{5, 1, 1}, "a a b a c a a a a b a c a a"},
		{[]int{1, 1, 1}, "a b c a b c"},
		{[]int{2, 1}, "a b a a b a"},
		{[]int{1}, "a a"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.weights), func(t *testing.T) {
			bs := weighted(tt.weights...)
			n := len(strings.Fields(tt.want))
			if got := names(bs, pickN(NewSmoothWeighted(), nil, bs, n)); got != tt.want {
				t.Fatalf("sequence %q, want %q", got, tt.want)
			}
		})
	}
}

// Over a whole number of cycles every backend gets exactly its weight's
// share, even with many goroutines picking at once.
func TestSmoothWeightedConcurrentIsExact(t *testing.T) {
	bs := weighted(3, 2, 1)
	p := NewSmoothWeighted()
	const workers, perWorker = 8, 600 // 4800 picks: 800 cycles of 6
	var mu sync.Mutex
	got := map[*Backend]int{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			c := count(pickN(p, nil, bs, perWorker))
			mu.Lock()
			for b, n := range c {
				got[b] += n
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	for i, w := range []int{3, 2, 1} {
		if want := workers * perWorker * w / 6; got[bs[i]] != want {
			t.Errorf("backend %d (weight %d): %d picks, want %d", i, w, got[bs[i]], want)
		}
	}
}

// A replica added keeps the others' turns and takes its own share at once.
func TestSmoothWeightedListChange(t *testing.T) {
	bs := weighted(1, 1, 1)
	p := NewSmoothWeighted()
	pickN(p, nil, bs[:2], 5)
	c := count(pickN(p, nil, bs, 300))
	for i, b := range bs {
		if c[b] != 100 {
			t.Errorf("backend %d: %d of 300 picks after the list grew, want 100", i, c[b])
		}
	}
	if got := p.Pick(nil, nil); got != nil {
		t.Errorf("Pick with no backends = %v, want nil", got)
	}
}

func TestLeastConnPicksFewest(t *testing.T) {
	bs := weighted(1, 1, 2)
	load(bs[0], 3)
	load(bs[1], 1)
	load(bs[2], 4) // 2 per unit of weight
	p := NewLeastConn()
	for i := range 10 {
		if got := p.Pick(nil, bs); got != bs[1] {
			t.Fatalf("pick %d: %v, want the least loaded %v", i, got, bs[1])
		}
	}
	load(bs[1], 2) // now 3: b[2] at 4/2 is lighter
	if got := p.Pick(nil, bs); got != bs[2] {
		t.Fatalf("got %v, want %v (4 in flight at weight 2)", got, bs[2])
	}
}

// At rest every backend ties; a serial client must still reach them all.
func TestLeastConnTiesRotate(t *testing.T) {
	bs := backends(3)
	c := count(pickN(NewLeastConn(), nil, bs, 30))
	for i, b := range bs {
		if c[b] != 10 {
			t.Errorf("backend %d: %d of 30 idle picks, want 10", i, c[b])
		}
	}
}

func load(b *Backend, n int) {
	for range n {
		b.Acquire()
	}
}

// The two choices are distinct, so the most loaded backend never wins.
func TestLeastRequestAvoidsTheBusiest(t *testing.T) {
	bs := backends(3)
	load(bs[2], 100)
	load(bs[0], 1)
	c := count(pickN(NewLeastRequest(), nil, bs, 3000))
	if c[bs[2]] != 0 {
		t.Errorf("the busiest backend got %d picks, want 0", c[bs[2]])
	}
	// bs[1] (idle) wins against both others; bs[0] only wins when paired
	// with bs[2]: 1/3 of pairs.
	if c[bs[1]] < c[bs[0]] {
		t.Errorf("idle backend got %d picks, busier one %d", c[bs[1]], c[bs[0]])
	}
}

// With equal loads the picks are spread evenly (bounds far wider than the
// statistical spread of 30000 picks, so the test does not flake).
func TestLeastRequestAndRandomSpread(t *testing.T) {
	for _, p := range []Policy{NewLeastRequest(), NewRandom()} {
		t.Run(fmt.Sprintf("%T", p), func(t *testing.T) {
			bs := backends(3)
			c := count(pickN(p, nil, bs, 30000))
			for i, b := range bs {
				if c[b] < 9000 || c[b] > 11000 {
					t.Errorf("backend %d: %d of 30000 picks, want about 10000", i, c[b])
				}
			}
			if p.Pick(nil, nil) != nil || p.Pick(nil, bs[:1]) != bs[0] {
				t.Error("wrong pick with zero or one backend")
			}
		})
	}
}

func TestRandomHonoursWeights(t *testing.T) {
	bs := weighted(3, 1)
	c := count(pickN(NewRandom(), nil, bs, 40000))
	if share := float64(c[bs[0]]) / 40000; share < 0.72 || share > 0.78 {
		t.Errorf("weight 3 of 4 got %.3f of picks, want about 0.75", share)
	}
}

func keyed(header, value string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if value != "" {
		r.Header.Set(header, value)
	}
	return r
}

func mustKey(t *testing.T, s string) HashKey {
	t.Helper()
	k, err := ParseHashKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestHashIsSticky(t *testing.T) {
	bs := backends(5)
	p := NewHash(mustKey(t, "header:X-User"), 0)
	for u := range 50 {
		r := keyed("X-User", fmt.Sprint("user-", u))
		first := p.Pick(r, bs)
		for range 20 {
			if got := p.Pick(r, bs); got != first {
				t.Fatalf("user-%d went to %v, then %v", u, first, got)
			}
		}
	}
}

func TestHashKeys(t *testing.T) {
	bs := backends(8)
	tests := []struct {
		key  string
		req  func(v string) *http.Request
		same bool // whether two requests with a different value elsewhere still match
	}{
		{"header:x-user", func(v string) *http.Request { return keyed("X-User", v) }, true},
		{"cookie:sid", func(v string) *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.AddCookie(&http.Cookie{Name: "other", Value: "x"})
			r.AddCookie(&http.Cookie{Name: "sid", Value: v})
			return r
		}, true},
		{"client", func(v string) *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = v + ":1234"
			return r
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			p := NewHash(mustKey(t, tt.key), 0)
			seen := map[*Backend]bool{}
			for i := range 200 {
				v := fmt.Sprintf("10.1.%d.%d", i/250, i%250)
				a, b := p.Pick(tt.req(v), bs), p.Pick(tt.req(v), bs)
				if a != b {
					t.Fatalf("value %s went to %v and %v", v, a, b)
				}
				seen[a] = true
			}
			if len(seen) != len(bs) {
				t.Errorf("200 keys reached %d of %d backends", len(seen), len(bs))
			}
		})
	}
}

// The client key follows the address the proxy established.
func TestHashClientUsesEstablishedAddress(t *testing.T) {
	bs := backends(8)
	p := NewHash(mustKey(t, "client"), 0)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.0.0.1:999"
	moved := 0
	for i := range 50 {
		addr := fmt.Sprint("192.0.2.", i)
		direct := httptest.NewRequest(http.MethodGet, "/", nil)
		direct.RemoteAddr = addr + ":1"
		via := r.WithContext(WithClientAddr(r.Context(), addr))
		if p.Pick(via, bs) != p.Pick(direct, bs) {
			moved++
		}
	}
	if moved != 0 {
		t.Errorf("%d of 50 clients behind the proxy hashed differently from the same clients direct", moved)
	}
}

// Distribution over many keys, and what moves when the pool changes: a
// removed backend's keys go elsewhere, no other key moves; an added
// backend takes about 1/n of the keys, from everyone, and no key moves
// between the old backends.
func TestHashSpreadAndMinimalDisruption(t *testing.T) {
	all := backends(5)
	p := NewHash(mustKey(t, "header:k"), 0)
	const keys = 20000
	place := func(bs []*Backend) []*Backend {
		out := make([]*Backend, keys)
		for i := range out {
			out[i] = p.Pick(keyed("K", fmt.Sprint("key-", i)), bs)
		}
		return out
	}
	four := place(all[:4])
	c := count(four)
	for i, b := range all[:4] {
		if share := float64(c[b]) / keys; math.Abs(share-0.25) > 0.02 {
			t.Errorf("backend %d has %.3f of the keys, want 0.25±0.02", i, share)
		}
	}
	five := place(all)
	moved := 0
	for i := range four {
		if four[i] != five[i] {
			moved++
			if five[i] != all[4] {
				t.Fatalf("key-%d moved from %v to %v, not to the new backend", i, four[i], five[i])
			}
		}
	}
	if share := float64(moved) / keys; math.Abs(share-0.2) > 0.02 {
		t.Errorf("adding a 5th backend moved %.3f of the keys, want about 0.2", share)
	}
	without1 := place([]*Backend{all[0], all[2], all[3]})
	for i := range four {
		if four[i] != all[1] && without1[i] != four[i] {
			t.Fatalf("key-%d moved from %v to %v though its backend stayed", i, four[i], without1[i])
		}
	}
}

func TestHashWeights(t *testing.T) {
	bs := weighted(3, 1)
	p := NewHash(mustKey(t, "header:k"), 0)
	n := 0
	for i := range 20000 {
		if p.Pick(keyed("K", fmt.Sprint(i)), bs) == bs[0] {
			n++
		}
	}
	if share := float64(n) / 20000; math.Abs(share-0.75) > 0.02 {
		t.Errorf("weight 3 of 4 won %.3f of the keys, want about 0.75", share)
	}
}

// A hot key's backend above its bound sends the key to the runner-up; the
// key comes back once the load falls.
func TestHashBoundedLoadSpills(t *testing.T) {
	bs := backends(4)
	p := NewHash(mustKey(t, "header:k"), 125)
	r := keyed("K", "hot")
	home := p.Pick(r, bs)
	// 8 in flight in all, all on home: its bound is ceil(1.25*9/4) = 3.
	load(home, 8)
	spill := p.Pick(r, bs)
	if spill == home {
		t.Fatalf("home backend has 8 of 8 in flight, and still got the hot key")
	}
	if again := p.Pick(r, bs); again != spill {
		t.Errorf("spill-over is not stable: %v then %v", spill, again)
	}
	for range 8 {
		home.Release()
	}
	if got := p.Pick(r, bs); got != home {
		t.Errorf("load gone, hot key went to %v, want its home %v", got, home)
	}
}

// Requests for one key held open at once: no backend goes above the bound
// (a loose check: factor 150% of the fair share, plus one for the reads
// racing the increments).
func TestHashBoundedLoadUnderConcurrency(t *testing.T) {
	bs := backends(4)
	p := NewHash(mustKey(t, "header:k"), 150)
	const held = 400
	var mu sync.Mutex
	var wg sync.WaitGroup
	max := map[*Backend]int64{}
	for range 8 {
		wg.Go(func() {
			for range held / 8 {
				b := p.Pick(keyed("K", "hot"), bs)
				b.Acquire()
				mu.Lock()
				if n := b.InFlight(); n > max[b] {
					max[b] = n
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	limit := int64(math.Ceil(1.5*held/4)) + 8
	used := 0
	for i, b := range bs {
		if max[b] > limit {
			t.Errorf("backend %d reached %d in flight, bound %d", i, max[b], limit)
		}
		if b.InFlight() > 0 {
			used++
		}
	}
	// 400 at 150% of a fair 100 each: the home backend and at least two
	// runners-up must share them.
	if used < 3 {
		t.Errorf("the hot key's %d requests went to %d backends, want at least 3", held, used)
	}
}

// Without a key there is nothing to be sticky on: requests are spread,
// not all sent where the empty string hashes.
func TestHashWithoutKeySpreads(t *testing.T) {
	bs := backends(3)
	p := NewHash(mustKey(t, "cookie:sid"), 0)
	c := count(pickN(p, httptest.NewRequest(http.MethodGet, "/", nil), bs, 3000))
	if len(c) != 3 {
		t.Errorf("keyless requests reached %d of 3 backends", len(c))
	}
}

func TestParseHashKey(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "client", want: "client"},
		{in: " Client ", want: "client"},
		{in: "header:x-user-id", want: "header:X-User-Id"},
		{in: "cookie:sid", want: "cookie:sid"},
		{in: "cookie: sid ", want: "cookie:sid"},
		{in: "", err: "want header:NAME"},
		{in: "header:", err: "want header:NAME"},
		{in: "cookie", err: "want cookie:NAME"},
		{in: "client:x", err: "no name"},
		{in: "path", err: "want header:NAME"},
		{in: "header:a b", err: "not a valid"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			k, err := ParseHashKey(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || k.String() != tt.want {
				t.Fatalf("got %q, %v; want %q", k, err, tt.want)
			}
		})
	}
}

func FuzzParseHashKey(f *testing.F) {
	for _, s := range []string{"client", "header:X-User", "cookie:sid", "header:", ":", "cookie:a:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseHashKey(s)
		if err != nil {
			return
		}
		if k.kind != "client" && k.name == "" {
			t.Fatalf("%q parsed to %+v without a name", s, k)
		}
		again, err := ParseHashKey(k.String())
		if err != nil || again != k {
			t.Fatalf("%q -> %q does not parse back: %+v, %v", s, k, again, err)
		}
	})
}

func TestNew(t *testing.T) {
	for _, name := range Names {
		p, err := New(name, mustKey(t, "client"), 0)
		if err != nil || p == nil {
			t.Errorf("New(%q) = %v, %v", name, p, err)
		}
	}
	if _, err := New("fastest", HashKey{}, 0); err == nil || !strings.Contains(err.Error(), "round_robin") {
		t.Errorf("unknown policy: err = %v, want one listing the policies", err)
	}
}

// Every policy, picked from many goroutines while the list changes and
// loads move, returns a backend of the list it was given (go test -race
// watches the sharing).
func TestPoliciesConcurrentWithListChanges(t *testing.T) {
	all := weighted(1, 2, 3, 1, 1)
	lists := [][]*Backend{all, all[:3], all[1:], all[2:4]}
	for _, name := range Names {
		t.Run(name, func(t *testing.T) {
			p, _ := New(name, mustKey(t, "header:k"), 125)
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Go(func() {
					for i := range 500 {
						list := lists[(w+i)%len(lists)]
						b := p.Pick(keyed("K", fmt.Sprint(i%7)), list)
						found := false
						for _, x := range list {
							found = found || x == b
						}
						if !found {
							t.Errorf("picked %v, not in the list given", b)
							return
						}
						b.Acquire()
						b.Release()
					}
				})
			}
			wg.Wait()
		})
	}
}
