package shard

import (
	"strconv"
	"testing"
)

func TestModuloMatchesGuide(t *testing.T) {
	// The guide's example puts Alice on shard 1, Bob on 2 and Charlie on 1
	// of 3; the others are crc32 checksums worked out once and written down
	// (crc32("42") = 841265288, crc32("1") = 2212294583), so the test cannot
	// share a mistake with the code. With 4 shards most keys move.
	tests := []struct {
		key      string
		of3, of4 int
	}{
		{"Alice", 1, 3},
		{"Bob", 2, 0},
		{"Charlie", 1, 2},
		{"42", 2, 0},
		{"1", 2, 3},
		{"2", 1, 1},
		{"6", 1, 0},
	}
	for _, tt := range tests {
		if got := (Modulo{N: 3}).Shard(tt.key); got != tt.of3 {
			t.Errorf("Modulo{3}.Shard(%q) = %d, want %d", tt.key, got, tt.of3)
		}
		if got := (Modulo{N: 4}).Shard(tt.key); got != tt.of4 {
			t.Errorf("Modulo{4}.Shard(%q) = %d, want %d", tt.key, got, tt.of4)
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
