package shard

import (
	"hash/crc32"
	"strconv"
	"testing"
)

func TestModuloMatchesGuide(t *testing.T) {
	// The guide's example: with 3 shards, Alice and Charlie share a shard.
	tests := []struct {
		key  string
		want int
	}{
		{"Alice", int(crc32.ChecksumIEEE([]byte("Alice")) % 3)},
		{"Bob", int(crc32.ChecksumIEEE([]byte("Bob")) % 3)},
		{"42", int(crc32.ChecksumIEEE([]byte("42")) % 3)},
	}
	r := Modulo{N: 3}
	for _, tt := range tests {
		if got := r.Shard(tt.key); got != tt.want {
			t.Errorf("Shard(%q) = %d, want %d", tt.key, got, tt.want)
		}
	}
}

func TestModuloSpreadsEvenly(t *testing.T) {
	const n, keys = 3, 30000
	r := Modulo{N: n}
	counts := make([]int, n)
	for i := 1; i <= keys; i++ {
		s := r.Shard(strconv.Itoa(i))
		if s < 0 || s >= n {
			t.Fatalf("shard %d out of range", s)
		}
		counts[s]++
	}
	for s, c := range counts {
		if c < keys/n*9/10 || c > keys/n*11/10 {
			t.Errorf("shard %d holds %d of %d keys, want within 10%% of %d", s, c, keys, keys/n)
		}
	}
}

func BenchmarkModulo(b *testing.B) {
	r := Modulo{N: 3}
	for i := 0; b.Loop(); i++ {
		r.Shard("123456789")
	}
}
