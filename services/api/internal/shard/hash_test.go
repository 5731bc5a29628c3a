package shard

import (
	"hash/fnv"
	"testing"
)

func TestFNV1aMatchesStdlib(t *testing.T) {
	for _, key := range []string{"", "a", "1", "42", "Alice", "user:123456789", "é☃"} {
		h := fnv.New64a()
		h.Write([]byte(key))
		if got, want := fnv1a64(key), h.Sum64(); got != want {
			t.Errorf("fnv1a64(%q) = %#x, want %#x", key, got, want)
		}
	}
}

// pinned are values computed once and written down. Routers must give the
// same answer in every process on every machine and in every release; if one
// of these changes, every stored row is on the wrong shard. Change them only
// together with a migration.
var pinned = []struct {
	key                       string
	hash                      uint64
	jump3, jump10             int
	rendezvous3, rendezvous10 int
}{
	{"1", 0x7c3832dde020d3d6, 1, 8, 0, 5},
	{"2", 0xbd857afbb04f894e, 0, 8, 0, 0},
	{"42", 0x810b196a56ee3cec, 0, 0, 2, 9},
	{"Alice", 0x932eaeb7cf4c3653, 2, 2, 2, 6},
	{"Bob", 0xd42f32803944c47b, 1, 6, 1, 1},
	{"Charlie", 0x4e2d6259204568ae, 1, 6, 0, 7},
}

func TestHash64Pinned(t *testing.T) {
	for _, p := range pinned {
		if got := hash64(p.key); got != p.hash {
			t.Errorf("hash64(%q) = %#x, want %#x", p.key, got, p.hash)
		}
	}
}
