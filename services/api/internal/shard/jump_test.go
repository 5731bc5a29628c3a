package shard

import "testing"

func TestJumpReferenceValues(t *testing.T) {
	// jump(key, n) for n = 1, 2, ..., from the paper's reference C++ code (as
	// published in the tests of github.com/dgryski/go-jump).
	tests := []struct {
		key  uint64
		want []int
	}{
		{0, []int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{1, []int{0, 0, 0, 0, 0, 0, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 17, 17}},
		{0xdeadbeef, []int{0, 1, 2, 3, 3, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 16, 16, 16}},
		{0x0ddc0ffeebadf00d, []int{0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 15, 15, 15, 15}},
	}
	for _, tt := range tests {
		for i, want := range tt.want {
			if got := jump(tt.key, i+1); got != want {
				t.Errorf("jump(%#x, %d) = %d, want %d", tt.key, i+1, got, want)
			}
		}
	}
}

func TestJumpPinned(t *testing.T) {
	for _, p := range pinned {
		if got := (Jump{N: 3}).Shard(p.key); got != p.jump3 {
			t.Errorf("Jump{3}.Shard(%q) = %d, want %d", p.key, got, p.jump3)
		}
		if got := (Jump{N: 10}).Shard(p.key); got != p.jump10 {
			t.Errorf("Jump{10}.Shard(%q) = %d, want %d", p.key, got, p.jump10)
		}
	}
}

func TestJumpMovementOnlyToNewShard(t *testing.T) {
	// Growing one shard at a time from 1 to 32, a key either stays or moves
	// to the shard just added.
	ks := testKeys[:20000]
	for n := 1; n < 32; n++ {
		from, to := Jump{N: n}, Jump{N: n + 1}
		for _, k := range ks {
			if a, b := from.Shard(k), to.Shard(k); a != b && b != n {
				t.Fatalf("%d→%d shards: key %q moved from %d to %d, want only moves to %d", n, n+1, k, a, b, n)
			}
		}
	}
}

func TestJumpPanicsWithoutShards(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Jump{N: 0}.Shard did not panic")
		}
	}()
	Jump{N: 0}.Shard("1")
}
