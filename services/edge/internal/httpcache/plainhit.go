package httpcache

import (
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"
)

// newlineToSpace is net/http's own replacer for header values it writes.
var newlineToSpace = strings.NewReplacer("\n", " ", "\r", " ")

// The plain hit is the request a cache gets most: a GET of a URL whose
// stored response is fresh, a whole 200, selected by no request field
// (no Vary), asked with nothing that could change the answer (no
// Cache-Control, Authorization, Range or condition). serveEntry answers it
// through net/http; the edge's hit path (internal/hitpath) answers it on
// the connection itself, with the same bytes of head and body, using
// PlainHit and AppendHitHead. Everything else goes through ServeHTTP.

// Now is the cache's clock (Config.Now).
func (c *Cache) Now() time.Time { return c.cfg.Now() }

// PlainHit returns the stored entry that answers a plain GET of key at
// now with a HIT, or nil when the answer needs ServeHTTP: nothing stored,
// stale, not a 200, or selected by Vary (which needs the request's
// fields). Like ServeHTTP, it counts an access with the store's policy; a
// nil answer followed by ServeHTTP counts one more (S3-FIFO caps its
// count at 3).
func (c *Cache) PlainHit(key string, now time.Time) *Entry {
	obj, _ := c.store.Get(key)
	if obj == nil {
		return nil
	}
	var e *Entry
	for _, v := range obj.Variants {
		if v.Vary.Star {
			continue // never selected (Object.Select)
		}
		if len(v.Vary.Names) > 0 {
			return nil
		}
		e = v
		break
	}
	if e == nil || e.Status != http.StatusOK || e.hitHead == nil {
		return nil
	}
	if u, _ := decide(e, CacheControl{}, now); u != useFresh {
		return nil
	}
	return e
}

// AppendHitHead appends to dst the head serveEntry sends for e as a plain
// HIT at now, and counts the answer as a hit of len(e.Body) bytes served
// from the cache. requestID is the request's X-Request-Id; closing adds
// Connection: close.
func (c *Cache) AppendHitHead(dst []byte, e *Entry, now time.Time, requestID string, closing bool) []byte {
	c.metrics.hits.Inc()
	c.metrics.servedFromCache.Add(float64(len(e.Body)))
	dst = append(dst, "HTTP/1.1 200 OK\r\n"...)
	dst = append(dst, e.hitHead...)
	dst = append(dst, "Age: "...)
	dst = strconv.AppendInt(dst, int64(e.Age(now)/time.Second), 10)
	dst = append(dst, "\r\nCache-Status: "...)
	dst = append(dst, c.name...)
	dst = append(dst, "; hit; ttl="...)
	dst = strconv.AppendInt(dst, int64(e.TTL(now)/time.Second), 10)
	dst = append(dst, "\r\nX-Cache: HIT\r\nX-Served-By: "...)
	dst = append(dst, c.cfg.ServedBy...)
	dst = append(dst, "\r\nX-Request-Id: "...)
	dst = append(dst, requestID...)
	dst = append(dst, "\r\n"...)
	if _, ok := e.Header["Date"]; !ok {
		// net/http adds the date of the answer when the entry has none.
		dst = append(dst, "Date: "...)
		dst = now.UTC().AppendFormat(dst, http.TimeFormat)
		dst = append(dst, "\r\n"...)
	}
	if closing {
		dst = append(dst, "Connection: close\r\n"...)
	}
	return append(dst, "\r\n"...)
}

// hitAnswerFields are the fields serveEntry sets on every plain hit,
// whatever the entry holds: they are left out of hitHead, which holds the
// fixed ones, and written per answer (AppendHitHead) or recomputed.
var hitAnswerFields = map[string]bool{
	"Age": true, "Cache-Status": true, "X-Cache": true, "X-Served-By": true, "X-Request-Id": true,
	"Last-Modified": true, "Accept-Ranges": true, "Content-Length": true,
}

// buildHitHead renders the fields of a plain hit's head that are the same
// for every answer from e, as net/http would write them (sorted, values
// with line breaks turned to spaces and trimmed, invalid names dropped).
// It runs once per entry, when it is made.
func (e *Entry) buildHitHead() []byte {
	if e.Status != http.StatusOK {
		return nil
	}
	keys := make([]string, 0, len(e.Header)+3)
	for k := range e.Header {
		if !hitAnswerFields[k] && validToken(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b []byte
	field := func(k, v string) {
		b = append(b, k...)
		b = append(b, ": "...)
		b = append(b, textproto.TrimString(newlineToSpace.Replace(v))...)
		b = append(b, "\r\n"...)
	}
	for _, k := range keys {
		for _, v := range e.Header[k] {
			field(k, v)
		}
	}
	field("Accept-Ranges", "bytes")
	field("Content-Length", strconv.Itoa(len(e.Body)))
	if !e.LastModified.IsZero() {
		field("Last-Modified", e.LastModified.UTC().Format(http.TimeFormat))
	}
	return b
}
