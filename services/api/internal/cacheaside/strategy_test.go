package cacheaside

import "testing"

func TestParseStrategy(t *testing.T) {
	for _, ok := range []string{"cache-aside", "write-through", "none"} {
		if s, err := ParseStrategy(ok); err != nil || string(s) != ok {
			t.Errorf("ParseStrategy(%q) = %q, %v", ok, s, err)
		}
	}
	for _, bad := range []string{"", "lru", "Cache-Aside", "write-back"} {
		if _, err := ParseStrategy(bad); err == nil {
			t.Errorf("ParseStrategy(%q) accepted", bad)
		}
	}
}
