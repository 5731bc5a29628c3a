package shard

import (
	"fmt"
	"slices"
	"testing"
)

func TestRendezvousPinned(t *testing.T) {
	r3, r10 := numbered(3), numbered(10)
	for _, p := range pinned {
		if got := r3.Shard(p.key); got != p.rendezvous3 {
			t.Errorf("rendezvous over 3: Shard(%q) = %d, want %d", p.key, got, p.rendezvous3)
		}
		if got := r10.Shard(p.key); got != p.rendezvous10 {
			t.Errorf("rendezvous over 10: Shard(%q) = %d, want %d", p.key, got, p.rendezvous10)
		}
	}
}

func TestRendezvousRemoveAnyShard(t *testing.T) {
	names := []string{"pg-users-0", "pg-users-1", "pg-users-2", "pg-users-3", "pg-users-4"}
	for removed := range names {
		t.Run(names[removed], func(t *testing.T) {
			rest := slices.Delete(slices.Clone(names), removed, removed+1)
			before, after := NewRendezvous(names...), NewRendezvous(rest...)
			moved := 0
			for _, k := range testKeys {
				was, is := names[before.Shard(k)], rest[after.Shard(k)]
				if was == is {
					continue
				}
				if was != names[removed] {
					t.Fatalf("key %q moved from %s to %s, but only %s was removed", k, was, is, names[removed])
				}
				moved++
			}
			// Exactly the removed shard's keys move: about 1/5.
			if f := float64(moved) / float64(len(testKeys)); f < 0.18 || f > 0.22 {
				t.Errorf("moved %.3f of the keys, want about 0.2", f)
			}
		})
	}
}

func TestRendezvousZeroValuePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Rendezvous{}.Shard did not panic")
		}
	}()
	Rendezvous{}.Shard("1")
}

func ExampleNewRendezvous() {
	r := NewRendezvous("pg-users-a", "pg-users-b", "pg-users-c")
	fmt.Println(r.Shards(), r.Shard("Alice"))
	// Output: 3 2
}
