package shardmap

import "testing"

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		m    Map
		want string
	}{
		{"ok", Map{Router: "consistent", DSNs: []string{"a", "b"}}, ""},
		{"no shards", Map{Router: "modulo"}, "shard map: no shards"},
		{"a shard twice", Map{Router: "modulo", DSNs: []string{"a", "b", "a"}}, "shard map: shard 2 is listed twice"},
		{"unknown router", Map{Router: "ring", DSNs: []string{"a"}}, `shard: unknown router "ring" (valid: modulo, consistent, jump, rendezvous)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.m.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && err.Error() != tt.want) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSameIgnoresTheVersion(t *testing.T) {
	a := Map{Version: 1, Router: "modulo", DSNs: []string{"a", "b"}}
	if b := (Map{Version: 7, Router: "modulo", DSNs: []string{"a", "b"}}); !a.Same(b) {
		t.Errorf("%v and %v route alike", a, b)
	}
	for _, b := range []Map{
		{Version: 1, Router: "consistent", DSNs: []string{"a", "b"}},
		{Version: 1, Router: "modulo", DSNs: []string{"b", "a"}},
		{Version: 1, Router: "modulo", DSNs: []string{"a", "b", "c"}},
	} {
		if a.Same(b) {
			t.Errorf("%v and %v do not route alike", a, b)
		}
	}
}
