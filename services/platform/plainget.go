package platform

import (
	"bytes"
)

// PlainGet is what a hit path (the edge's, the api's) needs from a
// request head: slices of the connection's buffer, valid until the next
// read.
type PlainGet struct {
	Target    []byte // origin-form, "/path?query"
	RequestID []byte // X-Request-Id, when the client sent one
	Closing   bool   // Connection: close
	// Via: the request came through a proxy. It changes no api answer
	// (the lb adds one to every request), but the edge's loop detection
	// reads it, so the edge hands such a request to its handler.
	Via bool
}

// ParsePlainGet reads a whole request head (its final CRLF CRLF included)
// and reports whether a hit path may answer it. It accepts only what it
// can read one single way, and only a GET whose answer no field changes:
// anything else (another method or version, a body, a field that changes
// the answer or that net/http would refuse) is false, and the request goes
// to net/http, which reads it again from the start. So this parser never
// refuses anything and never has to be lenient.
func ParsePlainGet(head []byte, req *PlainGet) bool {
	*req = PlainGet{}
	line, rest, ok := bytes.Cut(head, crlf)
	if !ok {
		return false
	}
	target, ok := bytes.CutPrefix(line, []byte("GET "))
	if !ok {
		return false
	}
	target, ok = bytes.CutSuffix(target, []byte(" HTTP/1.1"))
	if !ok || !plainTarget(target) {
		return false
	}
	req.Target = target
	hosts := 0
	for {
		line, rest, ok = bytes.Cut(rest, crlf)
		if !ok {
			return false
		}
		if len(line) == 0 {
			return len(rest) == 0 && hosts == 1
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !token(name) {
			return false
		}
		value = bytes.Trim(value, " \t")
		if !plainValue(value) {
			return false
		}
		switch {
		case equalFold(name, "host"):
			hosts++
			if !plainHost(value) {
				return false
			}
		case equalFold(name, "x-request-id"):
			if req.RequestID != nil || !validRequestID(value) {
				return false
			}
			req.RequestID = value
		case equalFold(name, "via"):
			req.Via = true
		case equalFold(name, "connection"):
			switch {
			case equalFold(value, "close"):
				req.Closing = true
			case equalFold(value, "keep-alive"):
			default:
				return false
			}
		case changesAnswer(name):
			return false
		}
	}
}

var crlf = []byte("\r\n")

// changesAnswer lists the request fields a handler may read for a GET (the
// edge's reads these: conditionals, ranges, Cache-Control, credentials;
// Via is reported in PlainGet instead), or that net/http acts on: a request with any of
// them is the handler's. Other fields do not change a plain hit (Vary,
// which selects by any field, is the edge handler's too: PlainHit refuses a
// varied entry).
func changesAnswer(name []byte) bool {
	if len(name) == 0 {
		return true
	}
	switch name[0] | 0x20 {
	case 'a':
		return equalFold(name, "authorization")
	case 'c':
		return equalFold(name, "cache-control") || equalFold(name, "content-length")
	case 'e':
		return equalFold(name, "expect")
	case 'i':
		return len(name) > 3 && equalFold(name[:3], "if-") // If-None-Match, If-Range, ...
	case 'r':
		return equalFold(name, "range")
	case 't':
		return equalFold(name, "transfer-encoding") || equalFold(name, "trailer")
	case 'u':
		return equalFold(name, "upgrade")
	}
	return false
}

// plainTarget accepts an origin-form target that is the cache key as it
// stands: net/url would give back the same RequestURI, and net/http's
// ServeMux would not redirect it to a cleaned path. No percent-encoding,
// no dot segments, no empty segments.
func plainTarget(t []byte) bool {
	if len(t) == 0 || t[0] != '/' {
		return false
	}
	path, _, _ := bytes.Cut(t, []byte("?"))
	if bytes.Contains(path, []byte("//")) || bytes.Contains(path, []byte("/.")) {
		return false
	}
	for _, c := range t {
		if !targetByte[c] {
			return false
		}
	}
	return true
}

// targetByte: unreserved and sub-delims, ':', '@', '/' and '?' (RFC 3986),
// without '%'.
var targetByte = byteSet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?")

// plainHost accepts host names and IP literals with a port.
func plainHost(h []byte) bool {
	if len(h) == 0 {
		return false
	}
	for _, c := range h {
		if !hostByte[c] {
			return false
		}
	}
	return true
}

var hostByte = byteSet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._:[]")

// token is an RFC 9110 field name.
func token(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenByte[c] {
			return false
		}
	}
	return true
}

var tokenByte = byteSet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~")

// plainValue accepts visible ASCII, spaces and tabs: no control bytes, no
// obs-text, which net/http may read its own way.
func plainValue(v []byte) bool {
	for _, c := range v {
		if (c < 0x20 && c != '\t') || c > 0x7e {
			return false
		}
	}
	return true
}

func byteSet(s string) (set [256]bool) {
	for i := 0; i < len(s); i++ {
		set[s[i]] = true
	}
	return set
}

// equalFold compares b with lower-case ASCII s, ignoring b's case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
