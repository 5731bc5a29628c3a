package fastpath

import (
	"bytes"
	"net/http"
	"strconv"

	"scalelab/services/lb/internal/forward"
	"scalelab/services/platform"
)

// headWriter writes every head the fast path sends: the backend's request
// heads, the client's response heads and the lb's own answers. The fields
// it copies from a parsed head pass a filter first (dropRequestField,
// dropResponseField); the framing, Via, X-Request-Id and the lb's own
// fields it writes itself, so each leaves in one canonical form.
type headWriter struct{ b []byte }

func (h *headWriter) str(s string) { h.b = append(h.b, s...) }
func (h *headWriter) raw(p []byte) { h.b = append(h.b, p...) }
func (h *headWriter) int(n int64)  { h.b = strconv.AppendInt(h.b, n, 10) }
func (h *headWriter) end() []byte  { h.str("\r\n"); return h.b }
func (h *headWriter) field(name string, value []byte) {
	h.str(name)
	h.str(": ")
	h.raw(value)
	h.str("\r\n")
}

// requestLine starts a request head to a backend, always in HTTP/1.1.
func (h *headWriter) requestLine(method, target []byte) {
	h.raw(method)
	h.str(" ")
	h.raw(originForm(target))
	h.str(" HTTP/1.1\r\n")
}

// statusLine starts a response head, with reason or else the standard one.
func (h *headWriter) statusLine(status int, reason []byte) {
	h.str("HTTP/1.1 ")
	h.int(int64(status))
	h.str(" ")
	if len(reason) > 0 {
		h.raw(reason)
	} else {
		h.str(http.StatusText(status))
	}
	h.str("\r\n")
}

// copyFields copies the fields of a parsed head that drop lets through.
func (h *headWriter) copyFields(m *message, drop func(name []byte, connNamed [][]byte) bool) {
	for _, f := range m.fields {
		if drop(f.name, m.connNamed) {
			continue
		}
		h.raw(f.name)
		h.str(": ")
		h.raw(f.value)
		h.str("\r\n")
	}
}

// via names the lb as a hop of a message in HTTP/1.minor.
func (h *headWriter) via(minor int) {
	h.str("Via: 1.")
	h.b = append(h.b, byte('0'+minor))
	h.str(" " + forward.ViaName + "\r\n")
}

func (h *headWriter) requestID(id []byte) { h.field(platform.RequestIDHeader, id) }

func (h *headWriter) contentLength(n int64) {
	h.str("Content-Length: ")
	h.int(n)
	h.str("\r\n")
}

// forwarded writes X-Forwarded-For/Host/Proto for req from peer. From
// anyone but a trusted proxy, what the client wrote is replaced; a trusted
// proxy's chain is extended with the peer, and what it says of the
// original Host and scheme is kept.
func (h *headWriter) forwarded(req *request, peer string, trusted bool) {
	var xfHost, xfProto []byte
	h.str("X-Forwarded-For: ")
	if trusted {
		for _, f := range req.fields {
			switch {
			case equalFold(f.name, "x-forwarded-for"):
				h.raw(f.value)
				h.str(", ")
			case equalFold(f.name, "x-forwarded-host"):
				xfHost = f.value
			case equalFold(f.name, "x-forwarded-proto"):
				xfProto = f.value
			}
		}
	}
	h.str(peer)
	if len(xfHost) == 0 {
		xfHost = req.host
	}
	h.str("\r\n")
	h.field("X-Forwarded-Host", xfHost)
	if len(xfProto) > 0 {
		h.field("X-Forwarded-Proto", xfProto)
	} else {
		h.str("X-Forwarded-Proto: http\r\n")
	}
}

// originForm turns an absolute-form target (a client that thinks it talks
// to a forward proxy) into the path and query a backend expects.
func originForm(target []byte) []byte {
	for _, scheme := range [...]string{"http://", "https://"} {
		if len(target) > len(scheme) && equalFold(target[:len(scheme)], scheme) {
			rest := target[len(scheme):]
			for i, ch := range rest {
				if ch == '/' || ch == '?' {
					if ch == '?' {
						return append([]byte("/"), rest[i:]...)
					}
					return rest[i:]
				}
			}
			return []byte("/")
		}
	}
	return target
}

// dropRequestField says whether a client's field stays out of the
// backend's head: hop-by-hop fields (RFC 9110 7.6.1, and those Connection
// names), the framing the lb writes itself, and what it sets anew (Host,
// X-Forwarded-*, Forwarded, X-Request-Id).
func dropRequestField(name []byte, connNamed [][]byte) bool {
	if isHopByHop(name) {
		return true
	}
	switch len(name) {
	case 4:
		if equalFold(name, "host") {
			return true
		}
	case 9:
		if equalFold(name, "forwarded") {
			return true
		}
	case 12:
		if equalFold(name, "x-request-id") {
			return true
		}
	case 14:
		if equalFold(name, "content-length") {
			return true
		}
	case 15:
		if equalFold(name, "x-forwarded-for") {
			return true
		}
	case 16:
		if equalFold(name, "x-forwarded-host") {
			return true
		}
	case 17:
		if equalFold(name, "x-forwarded-proto") {
			return true
		}
	}
	return namedIn(name, connNamed)
}

// dropResponseField: hop-by-hop fields, the framing the lb writes itself,
// and the headers it sets.
func dropResponseField(name []byte, connNamed [][]byte) bool {
	if isHopByHop(name) {
		return true
	}
	switch len(name) {
	case 9:
		if equalFold(name, "x-backend") {
			return true
		}
	case 12:
		if equalFold(name, "x-request-id") {
			return true
		}
	case 14:
		if equalFold(name, "content-length") {
			return true
		}
	}
	return namedIn(name, connNamed)
}

// isHopByHop: the fixed hop-by-hop set net/http/httputil removes.
func isHopByHop(name []byte) bool {
	switch len(name) {
	case 2:
		return equalFold(name, "te")
	case 7:
		return equalFold(name, "upgrade") || equalFold(name, "trailer")
	case 10:
		return equalFold(name, "connection") || equalFold(name, "keep-alive")
	case 16:
		return equalFold(name, "proxy-connection")
	case 17:
		return equalFold(name, "transfer-encoding")
	case 18:
		return equalFold(name, "proxy-authenticate")
	case 19:
		return equalFold(name, "proxy-authorization")
	}
	return false
}

func namedIn(name []byte, named [][]byte) bool {
	for _, n := range named {
		if bytes.EqualFold(n, name) {
			return true
		}
	}
	return false
}
