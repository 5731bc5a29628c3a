package store

import (
	"testing"

	"scalelab/services/api/internal/shard"
)

func TestTrustKeyNamesTheMapVersion(t *testing.T) {
	// Version 0 (a map from configuration) keeps the name the cache has
	// always used; a catalog map's keys are its own, so no trust renewed
	// under one map vouches for another.
	for _, tt := range []struct {
		version int64
		shard   int
		want    string
	}{{0, 2, "cache:trust:2"}, {1, 2, "cache:trust:2:map1"}, {12, 0, "cache:trust:0:map12"}} {
		if got := trustKey(tt.version, tt.shard); got != tt.want {
			t.Errorf("trustKey(%d, %d) = %q, want %q", tt.version, tt.shard, got, tt.want)
		}
	}
}

func TestCheckRefusesAStaleMapAndPausedWrites(t *testing.T) {
	v := &View{Version: 3, router: shard.Jump{N: 3}}
	for _, tt := range []struct {
		frozen     bool
		minVersion int64
		read       error
		write      error
	}{
		{false, 3, nil, nil},
		{false, 2, nil, nil},
		{true, 3, nil, ErrPaused},
		{false, 4, ErrStaleMap, ErrStaleMap},
		{true, 4, ErrStaleMap, ErrStaleMap},
	} {
		if got := v.check(tt.minVersion); got != tt.read {
			t.Errorf("read, fence %+v: %v, want %v", tt, got, tt.read)
		}
		if got := v.checkWrite(tt.frozen, tt.minVersion); got != tt.write {
			t.Errorf("write, fence %+v: %v, want %v", tt, got, tt.write)
		}
	}
}
