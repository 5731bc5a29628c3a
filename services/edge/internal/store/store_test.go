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
	for _, p := range Policies {
		for _, tt := range tests {
			t.Run(string(p)+"/"+tt.name, func(t *testing.T) {
				s := NewPolicy[string](p, tt.max, nil)
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

// tagged values carry their tags, as the edge's objects carry surrogate keys.
type tagged struct {
	name string
	tags []string
}

func TestTagIndexFollowsTheStore(t *testing.T) {
	tests := []struct {
		name    string
		max     int64
		do      func(s *Store[*tagged])
		tag     string
		want    []string
		wantLen int // distinct tags indexed at the end
	}{
		{"set indexes every tag", 100, func(s *Store[*tagged]) {
			s.Set("/a", &tagged{"a", []string{"red", "blue"}}, 10)
			s.Set("/b", &tagged{"b", []string{"red"}}, 10)
		}, "red", []string{"/a", "/b"}, 2},
		{"delete unindexes", 100, func(s *Store[*tagged]) {
			s.Set("/a", &tagged{"a", []string{"red"}}, 10)
			s.Set("/b", &tagged{"b", []string{"red"}}, 10)
			s.Delete("/a")
		}, "red", []string{"/b"}, 1},
		{"eviction unindexes", 25, func(s *Store[*tagged]) {
			s.Set("/a", &tagged{"a", []string{"red"}}, 10)
			s.Set("/b", &tagged{"b", []string{"green"}}, 10)
			s.Set("/c", &tagged{"c", []string{"green"}}, 10) // evicts /a
		}, "red", []string{}, 1},
		{"replacement reindexes", 100, func(s *Store[*tagged]) {
			s.Set("/a", &tagged{"a", []string{"red"}}, 10)
			s.Set("/a", &tagged{"a2", []string{"blue"}}, 10)
		}, "red", []string{}, 1},
		{"update reindexes", 100, func(s *Store[*tagged]) {
			s.Set("/a", &tagged{"a", []string{"red"}}, 10)
			s.Update("/a", func(old *tagged, ok bool) (*tagged, int64, bool) {
				return &tagged{"a2", append(slices.Clone(old.tags), "blue")}, 20, true
			})
		}, "blue", []string{"/a"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewTagged(tt.max, func(v *tagged) []string { return v.tags })
			tt.do(s)
			got := s.KeysWithTag(tt.tag)
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("KeysWithTag(%q) = %v, want %v", tt.tag, got, tt.want)
			}
			if s.Tags() != tt.wantLen {
				t.Errorf("Tags() = %d, want %d", s.Tags(), tt.wantLen)
			}
		})
	}
}

func TestUpdate(t *testing.T) {
	s := New[int](100)
	s.Set("k", 1, 10)
	s.Set("other", 9, 10)
	// Read-modify-write in one step.
	if !s.Update("k", func(old int, ok bool) (int, int64, bool) { return old + 1, 30, ok }) {
		t.Fatal("Update reported nothing stored")
	}
	if v, _ := s.Get("k"); v != 2 || s.Bytes() != 40 {
		t.Errorf("after increment: k = %d, Bytes = %d; want 2, 40", v, s.Bytes())
	}
	// Absent key: ok is false, and keep stores.
	if !s.Update("new", func(old int, ok bool) (int, int64, bool) {
		if ok {
			t.Error("absent key reported present")
		}
		return 7, 5, true
	}) {
		t.Error("Update of an absent key did not store")
	}
	// keep false removes.
	if s.Update("k", func(int, bool) (int, int64, bool) { return 0, 0, false }) {
		t.Error("Update with keep false reported stored")
	}
	if _, ok := s.Get("k"); ok || s.Bytes() != 15 {
		t.Errorf("k present %v, Bytes %d; want removed and 15", ok, s.Bytes())
	}
	// Too large for the budget: not stored.
	if s.Update("new", func(int, bool) (int, int64, bool) { return 8, 500, true }) {
		t.Error("Update with an oversized value reported stored")
	}
}

func TestKeysWithPrefix(t *testing.T) {
	s := New[int](100)
	for _, k := range []string{"/img/a.png", "/img/b.png", "/imgx", "/css/a.css"} {
		s.Set(k, 1, 1)
	}
	got := s.KeysWithPrefix("/img/")
	slices.Sort(got)
	if want := []string{"/img/a.png", "/img/b.png"}; !slices.Equal(got, want) {
		t.Errorf("KeysWithPrefix = %v, want %v", got, want)
	}
}
