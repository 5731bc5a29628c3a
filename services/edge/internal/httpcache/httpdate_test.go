package httpcache

import (
	"net/http"
	"testing"
	"time"
)

func TestParseHTTPDate(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	want := time.Date(2050, 8, 18, 2, 1, 18, 0, time.UTC)
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"Thu, 18 Aug 2050 02:01:18 GMT", true},
		{"THU, 18 AUG 2050 02:01:18 gMT", true}, // names are case-insensitive
		{"Thursday, 18-Aug-50 02:01:18 GMT", true},
		{"Thu Aug 18 02:01:18 2050", true},
		{"Thu, 18 Aug 2050 2:01:18 GMT", false}, // one-digit hour
		{"Thu, 18  Aug  2050 02:01:18 GMT", false},
		{"Thu, 18 Aug 2050 02:01:18 UTC", false},
		{"Thu, 18 Aug 50 02:01:18 GMT", false},
		{"Thu 18 Aug 2050 02:01:18 GMT", false},
		{"Thu, 18-Aug-2050 02:01:18 GMT", false},
		{"Thu, 18 Aug 2050 02.01.18 GMT", false},
		{"Thu, 31 Feb 2050 02:01:18 GMT", false},
		{"0", false},
		{"", false},
	} {
		got, ok := parseHTTPDate(tt.in, now)
		if ok != tt.ok || (ok && !got.Equal(want)) {
			t.Errorf("parseHTTPDate(%q) = %v, %v; want ok %v", tt.in, got, ok, tt.ok)
		}
	}
	if got, _ := parseHTTPDate("Friday, 18-Aug-90 02:01:18 GMT", now); got.Year() != 1990 {
		t.Errorf("a two-digit year more than 50 years ahead: %d, want 1990", got.Year())
	}
	if got, _ := parseHTTPDate("Sun Aug  8 02:01:18 2050", now); got.Day() != 8 {
		t.Errorf("asctime with a one-digit day: %v", got)
	}
}

func TestParseAge(t *testing.T) {
	for _, tt := range []struct {
		lines []string
		want  time.Duration
	}{
		{[]string{"60"}, 60 * time.Second},
		{[]string{"7200, 0"}, 7200 * time.Second}, // a list: its first member (RFC 9111 section 5.1)
		{[]string{"0, 7200"}, 0},
		{[]string{"7200", "0"}, 7200 * time.Second},
		{[]string{"1.5"}, 0}, // invalid: ignored
		{[]string{"-10"}, 0},
		{nil, 0},
	} {
		if got := parseAge(http.Header{"Age": tt.lines}); got != tt.want {
			t.Errorf("parseAge(%q) = %v, want %v", tt.lines, got, tt.want)
		}
	}
}
