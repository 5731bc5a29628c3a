package store

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

// op is one step of a scenario: set (size > 0 or 0), get or delete a key.
type op struct {
	do   string // "set", "get", "del"
	key  string
	size int64
}

func TestStore(t *testing.T) {
	tests := []struct {
		name          string
		max           int64
		ops           []op
		wantKeys      []string // keys present at the end, any order
		wantBytes     int64
		wantEvictions uint64
	}{
		{
			name:      "fits",
			max:       100,
			ops:       []op{{"set", "a", 40}, {"set", "b", 60}},
			wantKeys:  []string{"a", "b"},
			wantBytes: 100,
		},
		{
			name:          "evicts least recently set",
			max:           100,
			ops:           []op{{"set", "a", 40}, {"set", "b", 40}, {"set", "c", 40}},
			wantKeys:      []string{"b", "c"},
			wantBytes:     80,
			wantEvictions: 1,
		},
		{
			name:          "get refreshes recency",
			max:           100,
			ops:           []op{{"set", "a", 40}, {"set", "b", 40}, {"get", "a", 0}, {"set", "c", 40}},
			wantKeys:      []string{"a", "c"},
			wantBytes:     80,
			wantEvictions: 1,
		},
		{
			name:          "one big value evicts several small ones",
			max:           100,
			ops:           []op{{"set", "a", 30}, {"set", "b", 30}, {"set", "c", 30}, {"set", "big", 90}},
			wantKeys:      []string{"big"},
			wantBytes:     90,
			wantEvictions: 3,
		},
		{
			name:      "value larger than the budget is refused",
			max:       100,
			ops:       []op{{"set", "a", 30}, {"set", "huge", 101}},
			wantKeys:  []string{"a"},
			wantBytes: 30,
		},
		{
			name:      "replacing a key updates its size",
			max:       100,
			ops:       []op{{"set", "a", 30}, {"set", "a", 70}},
			wantKeys:  []string{"a"},
			wantBytes: 70,
		},
		{
			name:      "replacing with a too large value drops the old one",
			max:       100,
			ops:       []op{{"set", "a", 30}, {"set", "a", 500}},
			wantKeys:  nil,
			wantBytes: 0,
		},
		{
			name:      "delete frees bytes",
			max:       100,
			ops:       []op{{"set", "a", 30}, {"set", "b", 30}, {"del", "a", 0}, {"del", "missing", 0}},
			wantKeys:  []string{"b"},
			wantBytes: 30,
		},
		{
			name:      "zero budget stores only empty values",
			max:       0,
			ops:       []op{{"set", "a", 1}, {"set", "empty", 0}},
			wantKeys:  []string{"empty"},
			wantBytes: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New[string](tt.max)
			for _, o := range tt.ops {
				switch o.do {
				case "set":
					s.Set(o.key, "value of "+o.key, o.size)
				case "get":
					s.Get(o.key)
				case "del":
					s.Delete(o.key)
				}
			}
			var got []string
			for _, k := range []string{"a", "b", "c", "big", "huge", "empty", "missing"} {
				if v, ok := s.Get(k); ok {
					if v != "value of "+k {
						t.Errorf("Get(%q) = %q", k, v)
					}
					got = append(got, k)
				}
			}
			want := slices.Clone(tt.wantKeys)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("keys = %v, want %v", got, want)
			}
			if s.Len() != len(want) {
				t.Errorf("Len = %d, want %d", s.Len(), len(want))
			}
			if s.Bytes() != tt.wantBytes {
				t.Errorf("Bytes = %d, want %d", s.Bytes(), tt.wantBytes)
			}
			if s.Evictions() != tt.wantEvictions {
				t.Errorf("Evictions = %d, want %d", s.Evictions(), tt.wantEvictions)
			}
		})
	}
}

func TestSetReportsWhetherStored(t *testing.T) {
	s := New[int](10)
	if !s.Set("a", 1, 10) {
		t.Error("Set of a value that fits exactly returned false")
	}
	if s.Set("b", 2, 11) {
		t.Error("Set of a value larger than the budget returned true")
	}
}

// DeleteIf removes a key only while it still holds the value the caller
// saw: a value stored since then is kept.
func TestDeleteIf(t *testing.T) {
	type entry struct{ body string }
	stale, fresh := &entry{"stale"}, &entry{"fresh"}
	tests := []struct {
		name        string
		stored      *entry // nil: key absent
		deleteValue *entry
		wantDeleted bool
	}{
		{"same value is deleted", stale, stale, true},
		{"replaced value is kept", fresh, stale, false},
		{"equal contents, other value, is kept", &entry{"stale"}, stale, false},
		{"absent key", nil, stale, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New[*entry](100)
			s.Set("other", fresh, 10)
			if tt.stored != nil {
				s.Set("k", tt.stored, 30)
			}
			if got := s.DeleteIf("k", tt.deleteValue); got != tt.wantDeleted {
				t.Errorf("DeleteIf = %v, want %v", got, tt.wantDeleted)
			}
			v, ok := s.Get("k")
			switch {
			case tt.wantDeleted && ok:
				t.Errorf("key still holds %v after DeleteIf", v.body)
			case !tt.wantDeleted && tt.stored != nil && (!ok || v != tt.stored):
				t.Errorf("key holds %v (present %v), want the stored value kept", v, ok)
			}
			wantBytes := int64(10)
			if tt.stored != nil && !tt.wantDeleted {
				wantBytes += 30
			}
			if s.Bytes() != wantBytes {
				t.Errorf("Bytes = %d, want %d", s.Bytes(), wantBytes)
			}
			if _, ok := s.Get("other"); !ok {
				t.Error("DeleteIf removed another key")
			}
		})
	}
}

// TestConcurrent is for the race detector: the budget must hold whatever
// the interleaving.
func TestConcurrent(t *testing.T) {
	s := New[int](1000)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				k := fmt.Sprint((g*7 + i) % 50)
				switch i % 3 {
				case 0:
					s.Set(k, i, int64(i%100))
				case 1:
					s.Get(k)
				case 2:
					s.Delete(k)
				}
				if b := s.Bytes(); b > 1000 || b < 0 {
					t.Errorf("Bytes = %d, outside [0, 1000]", b)
					return
				}
			}
		})
	}
	wg.Wait()
}
