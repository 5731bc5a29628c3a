package httpcache

import "testing"

func TestValidCDNCacheControl(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"max-age=60", true},
		{"max-age=60, stale-while-revalidate=30", true},
		{"no-store", true},
		{"private, max-age=0", true},
		{`max-age=60, foo="bar";a=1, baz=(1 2 "x");p, q=?1, r=:aGk=:, s=1.5, t=tok/en`, true},
		{"max-age=10000, &&&&&", false}, // not a dictionary key
		{`max-age="10000"`, false},      // a lifetime that is not an integer
		{"max-age=1.5", false},
		{"Max-Age=60", false}, // keys are lowercase
		{"max-age=60,", false},
		{`a="unterminated`, false},
		{"a=(1 2", false},
	} {
		if got := validCDNCacheControl([]string{tt.in}); got != tt.ok {
			t.Errorf("validCDNCacheControl(%q) = %v, want %v", tt.in, got, tt.ok)
		}
	}
}
