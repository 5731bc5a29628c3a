package httpcache

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The three HTTP-date forms (RFC 9110 section 5.6.7), exactly: IMF-fixdate
// and the two obsolete ones a recipient still accepts. Names are matched
// without regard to case, as the RFC's grammar is. net/http's ParseTime is
// laxer (a one-digit hour, runs of spaces), which is right for Date and
// Last-Modified but not for Expires, whose invalid forms mean "already
// expired" (RFC 9111 section 5.3).
var (
	imfFixdate = regexp.MustCompile(`(?i)^(?:mon|tue|wed|thu|fri|sat|sun), (\d\d) ([a-z]{3}) (\d{4}) (\d\d):(\d\d):(\d\d) GMT$`)
	rfc850Date = regexp.MustCompile(`(?i)^(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday), (\d\d)-([a-z]{3})-(\d\d) (\d\d):(\d\d):(\d\d) GMT$`)
	asctime    = regexp.MustCompile(`(?i)^(?:mon|tue|wed|thu|fri|sat|sun) ([a-z]{3}) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\d{4})$`)
)

var months = map[string]time.Month{
	"jan": time.January, "feb": time.February, "mar": time.March, "apr": time.April,
	"may": time.May, "jun": time.June, "jul": time.July, "aug": time.August,
	"sep": time.September, "oct": time.October, "nov": time.November, "dec": time.December,
}

// parseHTTPDate parses an HTTP-date strictly. now places an RFC 850 date's
// two-digit year: one more than 50 years ahead is taken in the past century.
func parseHTTPDate(v string, now time.Time) (time.Time, bool) {
	var day, mon, year, hh, mm, ss string
	if m := imfFixdate.FindStringSubmatch(v); m != nil {
		day, mon, year, hh, mm, ss = m[1], m[2], m[3], m[4], m[5], m[6]
	} else if m := rfc850Date.FindStringSubmatch(v); m != nil {
		day, mon, year, hh, mm, ss = m[1], m[2], m[3], m[4], m[5], m[6]
	} else if m := asctime.FindStringSubmatch(v); m != nil {
		mon, day, hh, mm, ss, year = m[1], strings.TrimSpace(m[2]), m[3], m[4], m[5], m[6]
	} else {
		return time.Time{}, false
	}
	month, ok := months[strings.ToLower(mon)]
	d, _ := strconv.Atoi(day)
	y, _ := strconv.Atoi(year)
	h, _ := strconv.Atoi(hh)
	mi, _ := strconv.Atoi(mm)
	s, _ := strconv.Atoi(ss)
	if len(year) == 2 {
		y += now.Year() / 100 * 100
		if y > now.Year()+50 {
			y -= 100
		}
	}
	if !ok || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 {
		return time.Time{}, false
	}
	t := time.Date(y, month, d, h, mi, s, 0, time.UTC)
	if t.Day() != d {
		return time.Time{}, false // 31 February
	}
	return t, true
}
