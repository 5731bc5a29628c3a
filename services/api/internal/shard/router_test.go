package shard

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
)

// testKeys are the keys the api shards: user ids 1..100000 in decimal.
// Sequential ids are a hard case for a weak hash.
var testKeys = func() []string {
	ks := make([]string, 100_000)
	for i := range ks {
		ks[i] = strconv.Itoa(i + 1)
	}
	return ks
}()

// routerCase names a scheme under test and builds it for n shards.
type routerCase struct {
	name string
	make func(n int) Router
}

var routers = []routerCase{
	{"modulo", func(n int) Router { return Modulo{N: n} }},
	{"jump", func(n int) Router { return Jump{N: n} }},
	{"rendezvous", func(n int) Router { return numbered(n) }},
}

// counts returns how many keys land on each shard of r.
func counts(r Router, keys []string) []int {
	c := make([]int, r.Shards())
	for _, k := range keys {
		c[r.Shard(k)]++
	}
	return c
}

// movement compares two routers over keys: the fraction of keys whose shard
// changes, and whether every key that moved went to a shard that only the
// second router has (number >= from.Shards()).
func movement(from, to Router, keys []string) (frac float64, onlyToNew bool) {
	moved, onlyToNew := 0, true
	for _, k := range keys {
		if a, b := from.Shard(k), to.Shard(k); a != b {
			moved++
			if b < from.Shards() {
				onlyToNew = false
			}
		}
	}
	return float64(moved) / float64(len(keys)), onlyToNew
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		want    Router
		wantErr string
	}{
		{"modulo", 3, Modulo{N: 3}, ""},
		{"consistent", 4, Jump{N: 4}, ""},
		{"jump", 1, Jump{N: 1}, ""},
		{"rendezvous", 3, NewRendezvous("0", "1", "2"), ""},
		{"ring", 3, nil, `shard: unknown router "ring" (valid: modulo, consistent, jump, rendezvous)`},
		{"", 3, nil, `shard: unknown router "" (valid: modulo, consistent, jump, rendezvous)`},
		{"Modulo", 3, nil, `shard: unknown router "Modulo" (valid: modulo, consistent, jump, rendezvous)`},
		{"modulo", 0, nil, "shard: 0 shards, need at least 1"},
		{"consistent", -1, nil, "shard: -1 shards, need at least 1"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.name, tt.n), func(t *testing.T) {
			got, err := New(tt.name, tt.n)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("New(%q, %d) error = %v, want %q", tt.name, tt.n, err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("New(%q, %d) = %#v with an error, want nil", tt.name, tt.n, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%q, %d): %v", tt.name, tt.n, err)
			}
			if got.Shards() != tt.n {
				t.Errorf("Shards() = %d, want %d", got.Shards(), tt.n)
			}
			if fmt.Sprintf("%T", got) != fmt.Sprintf("%T", tt.want) {
				t.Errorf("New(%q, %d) is a %T, want %T", tt.name, tt.n, got, tt.want)
			}
			for _, k := range testKeys[:1000] {
				if a, b := got.Shard(k), tt.want.Shard(k); a != b {
					t.Fatalf("Shard(%q) = %d, want %d", k, a, b)
				}
			}
		})
	}
}

func TestRange(t *testing.T) {
	for _, r := range routers {
		for _, n := range []int{1, 2, 3, 7, 64} {
			t.Run(fmt.Sprintf("%s/%d", r.name, n), func(t *testing.T) {
				rt := r.make(n)
				if rt.Shards() != n {
					t.Fatalf("Shards() = %d, want %d", rt.Shards(), n)
				}
				for _, k := range append([]string{"", "Alice", "é☃"}, testKeys[:10000]...) {
					if s := rt.Shard(k); s < 0 || s >= n {
						t.Fatalf("Shard(%q) = %d, want within [0, %d)", k, s, n)
					}
				}
			})
		}
	}
}

func TestBalance(t *testing.T) {
	for _, r := range routers {
		for _, n := range []int{3, 4, 10} {
			t.Run(fmt.Sprintf("%s/%d", r.name, n), func(t *testing.T) {
				mean := float64(len(testKeys)) / float64(n)
				for s, c := range counts(r.make(n), testKeys) {
					if dev := float64(c)/mean - 1; dev < -0.05 || dev > 0.05 {
						t.Errorf("shard %d holds %d keys, %+.1f%% off the mean %.0f, want within ±5%%", s, c, 100*dev, mean)
					}
				}
			})
		}
	}
}

func TestMovement(t *testing.T) {
	// Going from 3 to 4 shards, a consistent router moves the quarter of the
	// keys the new shard must take and nothing else; modulo moves most keys.
	tests := []struct {
		router        string
		min, max      float64
		onlyToNewWant bool // every moved key goes to the new shard 3
	}{
		{"modulo", 0.60, 1, false},
		{"jump", 0.22, 0.28, true},
		{"rendezvous", 0.22, 0.28, true},
	}
	for _, tt := range tests {
		t.Run(tt.router, func(t *testing.T) {
			i := slices.IndexFunc(routers, func(r routerCase) bool { return r.name == tt.router })
			frac, onlyToNew := movement(routers[i].make(3), routers[i].make(4), testKeys)
			if frac < tt.min || frac > tt.max {
				t.Errorf("3→4 shards moved %.3f of the keys, want within [%.2f, %.2f]", frac, tt.min, tt.max)
			}
			if tt.onlyToNewWant && !onlyToNew {
				t.Errorf("3→4 shards moved keys between old shards, want moves only to the new shard")
			}
		})
	}
}

// ringShares returns the share of the hash space each of n shards owns on a
// classic consistent-hash ring (groupcache's consistenthash) with v points per
// shard, placed by hashing "salt/shard-point". A key belongs to the first
// point at or after its hash, so a shard owns the arcs that end at its points.
// The ring lives here, not in the package, only for the report.
func ringShares(n, v, salt int) []float64 {
	type point struct {
		at    uint64
		shard int
	}
	pts := make([]point, 0, n*v)
	for s := range n {
		for i := range v {
			pts = append(pts, point{hash64(strconv.Itoa(salt) + "/" + strconv.Itoa(s) + "-" + strconv.Itoa(i)), s})
		}
	}
	slices.SortFunc(pts, func(a, b point) int { return cmp.Compare(a.at, b.at) })
	shares := make([]float64, n)
	for i, p := range pts {
		prev := pts[(i+len(pts)-1)%len(pts)].at
		shares[p.shard] += float64(p.at-prev) / (1 << 64) // wraps around for i == 0
	}
	return shares
}

// TestReportBalanceAndMovement prints, for the README, how evenly each router
// spreads user ids 1..100000 and how many move when a shard is added, then how
// uneven a hash ring is for a few numbers of points per shard.
// Run: go test -v -run Report ./services/api/internal/shard
func TestReportBalanceAndMovement(t *testing.T) {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "router\tN\tmin share\tmax share\tmax/min\tmoved N→N+1\tideal 1/(N+1)\tonly to new shard\t\n")
	for _, r := range routers {
		for _, n := range []int{3, 4, 10} {
			c := counts(r.make(n), testKeys)
			lo, hi := slices.Min(c), slices.Max(c)
			frac, onlyToNew := movement(r.make(n), r.make(n+1), testKeys)
			fmt.Fprintf(w, "%s\t%d\t%.1f%%\t%.1f%%\t%.3f\t%.3f\t%.3f\t%v\t\n", r.name, n,
				100*float64(lo)/float64(len(testKeys)), 100*float64(hi)/float64(len(testKeys)),
				float64(hi)/float64(lo), frac, 1/float64(n+1), onlyToNew)
		}
	}
	w.Flush()
	t.Logf("%d keys (user ids 1..%d), shares of all keys (ideal 1/N):\n%s", len(testKeys), len(testKeys), b.String())

	const placements = 200
	b.Reset()
	w = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "points/shard\tN\tmedian max/min\t90th pct max/min\tshare off the mean ≈ ±1/√points\t\n")
	for _, v := range []int{1, 10, 100, 1000} {
		for _, n := range []int{3, 4, 10} {
			ratios := make([]float64, placements)
			for salt := range ratios {
				sh := ringShares(n, v, salt)
				ratios[salt] = slices.Max(sh) / slices.Min(sh)
			}
			slices.Sort(ratios)
			fmt.Fprintf(w, "%d\t%d\t%.2f\t%.2f\t±%.0f%%\t\n", v, n,
				ratios[placements/2], ratios[placements*9/10], 100/math.Sqrt(float64(v)))
		}
	}
	w.Flush()
	t.Logf("hash ring, exact share of the circle per shard, over %d placements of the points (jump and rendezvous above: max/min ≤ 1.05):\n%s", placements, b.String())
}

func BenchmarkShard(b *testing.B) {
	keys := testKeys[:1024]
	for _, r := range routers {
		for _, n := range []int{3, 10, 64} {
			rt := r.make(n)
			b.Run(fmt.Sprintf("%s/%d", r.name, n), func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					rt.Shard(keys[i&1023])
				}
			})
		}
	}
}
