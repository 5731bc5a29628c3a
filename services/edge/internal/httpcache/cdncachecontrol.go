package httpcache

import (
	"net/http"

	"github.com/dunglas/httpsfv"
)

// validCDNCacheControl reports whether a CDN-Cache-Control field (its
// lines) may be obeyed. It is a Structured Field dictionary (RFC 9213
// section 2.1, RFC 8941 section 3.2); a value that does not parse as one, or
// that gives a lifetime directive anything but an integer, is ignored whole,
// and Cache-Control applies instead. ParseCacheControl itself is lenient, as
// Cache-Control's older grammar asks.
func validCDNCacheControl(lines []string) bool {
	dict, err := httpsfv.UnmarshalDictionary(lines)
	if err != nil {
		return false
	}
	for _, name := range []string{"max-age", "s-maxage", "stale-while-revalidate", "stale-if-error"} {
		m, ok := dict.Get(name)
		if !ok {
			continue
		}
		item, ok := m.(httpsfv.Item)
		if !ok {
			return false
		}
		if _, ok := item.Value.(int64); !ok {
			return false
		}
	}
	return true
}

// cdnCacheControl returns the response's CDN-Cache-Control, and whether it
// has one that is valid and not empty.
func cdnCacheControl(h http.Header) (string, bool) {
	lines := h.Values("CDN-Cache-Control")
	v := joinValues(h, "CDN-Cache-Control")
	return v, len(lines) > 0 && v != "" && validCDNCacheControl(lines)
}
