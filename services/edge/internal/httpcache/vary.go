package httpcache

import (
	"net/http"
	"net/textproto"
	"slices"
	"strings"
)

// Vary is a parsed Vary response header (RFC 9110 section 12.5.5): the
// request fields a response was selected by. Stored responses for one URL
// are told apart by the values those fields had in the request that
// fetched each one: the secondary key of RFC 9111 section 4.1.
type Vary struct {
	Names []string // canonical, sorted, without duplicates
	Star  bool     // `Vary: *`: selected by something outside the request; never matches
}

// ParseVary parses a Vary header, several lines joined with commas.
func ParseVary(header string) Vary {
	var v Vary
	for name := range strings.SplitSeq(header, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "*":
			v.Star = true
		case validToken(name):
			v.Names = append(v.Names, textproto.CanonicalMIMEHeaderKey(name))
		}
	}
	slices.Sort(v.Names)
	v.Names = slices.Compact(v.Names)
	return v
}

// absent stands for a field the request did not have: RFC 9111 section 4.1
// says it matches only another request that lacks it too, never an empty
// value. No header value can contain a NUL byte.
const absent = "\x00"

// varyValues returns the normalized values of the named request fields,
// in order.
func varyValues(h http.Header, names []string) []string {
	if len(names) == 0 {
		return nil
	}
	vals := make([]string, len(names))
	for i, name := range names {
		vals[i] = normalizeFieldValue(h.Values(name))
	}
	return vals
}

// normalizeFieldValue joins the lines of a field and drops the whitespace
// around list members, the normalization every list-based field allows
// ("gzip,br" and "gzip, br" select the same variant). Case is kept: it is
// significant for some fields.
func normalizeFieldValue(lines []string) string {
	if len(lines) == 0 {
		return absent
	}
	var b strings.Builder
	first := true
	for _, line := range lines {
		for member := range strings.SplitSeq(line, ",") {
			member = strings.TrimSpace(member)
			if !first {
				b.WriteByte(',')
			}
			first = false
			b.WriteString(member)
		}
	}
	return b.String()
}

// secondaryKey renders the values of names in a request as one string, to
// tell concurrent fetches of different variants apart.
func secondaryKey(h http.Header, names []string) string {
	if len(names) == 0 {
		return ""
	}
	var b strings.Builder
	for i, v := range varyValues(h, names) {
		b.WriteString(names[i])
		b.WriteByte(':')
		b.WriteString(v)
		b.WriteByte('\n')
	}
	return b.String()
}
