package fastpath

import (
	"bytes"
	"errors"
)

// The parser reads a message head in place, as slices of the connection's
// read buffer: no allocation, no canonicalised copies. It is deliberately
// strict where leniency lets two parsers disagree on where a message ends
// (request smuggling): what it cannot read one single way is refused, never
// forwarded. Heads that pass are not forwarded as received either: the lb
// writes a new head for the backend from the fields, so the backend sees
// one Host, one framing header and CRLF line ends whatever the client sent.

// field is one header line. Both slices point into the read buffer and are
// valid only until the buffer is reused.
type field struct{ name, value []byte }

// maxFields bounds the header lines of one head (the byte limit bounds the
// rest); more is answered 431.
const maxFields = 256

// errIncomplete means the buffer does not hold a whole head yet.
var errIncomplete = errors.New("incomplete message head")

// headError is a head the lb refuses, with the status to answer.
type headError struct {
	status int
	msg    string
}

func (e *headError) Error() string { return e.msg }

func badRequest(msg string) *headError { return &headError{400, msg} }

var (
	errTooManyFields = &headError{431, "too many header fields"}
	errBadVersion    = &headError{505, "HTTP version not supported (want HTTP/1.0 or HTTP/1.1)"}
	errObsFold       = badRequest("header line folded onto the next (obs-fold)")
	errBadName       = badRequest("invalid header field name")
	errBadValue      = badRequest("invalid byte in a header field value")
	errBadLine       = badRequest("malformed request line")
	errCLandTE       = badRequest("both Content-Length and Transfer-Encoding")
	errBadCL         = badRequest("invalid Content-Length")
	errTwoCL         = badRequest("differing Content-Length values")
	errBadTE         = badRequest("Transfer-Encoding other than a single chunked")
	errNoHost        = badRequest("missing Host header")
	errTwoHosts      = badRequest("more than one Host header")
	errBadHost       = badRequest("invalid Host header")
	errTE10          = badRequest("Transfer-Encoding in an HTTP/1.0 request")
)

// message is what the fast path needs from a head, request or response.
type message struct {
	fields        []field
	contentLength int64 // -1: no Content-Length
	chunked       bool
	close         bool // Connection: close (or HTTP/1.0 without keep-alive)
	keepAlive     bool // Connection: keep-alive
	minor         int  // HTTP/1.minor
	// connNamed are the header names listed in Connection: hop-by-hop,
	// like the fixed set, and never forwarded.
	connNamed [][]byte
}

// request is a parsed request head.
type request struct {
	message
	method, target []byte
	host           []byte
	upgrade        bool // Upgrade: handed to net/http
	expect         bool // Expect: handed to net/http
	teTrailers     bool // TE: trailers, which is forwarded
	idempotencyKey bool
	requestID      []byte
	h2Preface      bool // "PRI * HTTP/2.0": handed to net/http
}

// response is a parsed response head.
type response struct {
	message
	status int
	reason []byte
}

func (m *message) reset() {
	m.fields = m.fields[:0]
	m.connNamed = m.connNamed[:0]
	m.contentLength = -1
	m.chunked, m.close, m.keepAlive = false, false, false
	m.minor = 1
}

// nextLine returns the line at the start of buf without its line end, and
// the length consumed. Lines end in CRLF or a bare LF (RFC 9112 2.2 lets a
// recipient accept LF); a CR anywhere else is an invalid byte, which the
// callers refuse.
func nextLine(buf []byte) (line []byte, n int, ok bool) {
	i := bytes.IndexByte(buf, '\n')
	if i < 0 {
		return nil, 0, false
	}
	line = buf[:i]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, i + 1, true
}

// parseRequest parses the request head at the start of buf into req and
// returns its length: errIncomplete when buf ends first, a *headError when
// the head is refused.
func parseRequest(buf []byte, req *request) (int, error) {
	req.reset()
	req.method, req.target, req.host, req.requestID = nil, nil, nil, nil
	req.upgrade, req.expect, req.teTrailers, req.idempotencyKey, req.h2Preface = false, false, false, false, false

	pos := 0
	// RFC 9112 2.2: a server SHOULD ignore at least one empty line before
	// the request line (some clients send CRLF after a POST body).
	for range 4 {
		if len(buf) > pos && buf[pos] == '\n' {
			pos++
		} else if len(buf) > pos+1 && buf[pos] == '\r' && buf[pos+1] == '\n' {
			pos += 2
		} else {
			break
		}
	}
	line, n, ok := nextLine(buf[pos:])
	if !ok {
		return 0, errIncomplete
	}
	pos += n
	if err := req.parseRequestLine(line); err != nil {
		return 0, err
	}
	if req.h2Preface {
		return pos, nil // the rest is HTTP/2's, not ours to read
	}
	end, err := parseFields(buf, pos, &req.message)
	if err != nil {
		return 0, err
	}
	hosts := 0
	for _, f := range req.fields {
		switch {
		case equalFold(f.name, "host"):
			hosts++
			if hosts > 1 {
				return 0, errTwoHosts
			}
			if !validHost(f.value) {
				return 0, errBadHost
			}
			req.host = f.value
		case equalFold(f.name, "upgrade"):
			req.upgrade = true
		case equalFold(f.name, "expect"):
			req.expect = true
		case equalFold(f.name, "te"):
			if hasToken(f.value, "trailers") {
				req.teTrailers = true
			}
		case equalFold(f.name, "x-request-id"):
			req.requestID = f.value
		case equalFold(f.name, "idempotency-key"):
			req.idempotencyKey = len(f.value) > 0
		}
	}
	switch {
	case req.minor == 1 && hosts == 0:
		return 0, errNoHost
	case req.chunked && req.contentLength >= 0:
		return 0, errCLandTE
	case req.chunked && req.minor == 0:
		return 0, errTE10
	}
	if req.minor == 0 && !req.keepAlive {
		req.close = true
	}
	return end, nil
}

func (req *request) parseRequestLine(line []byte) error {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return errBadLine
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return errBadLine
	}
	req.method, req.target = line[:sp1], rest[:sp2]
	version := rest[sp2+1:]
	for _, c := range req.method {
		if !isTokenChar(c) {
			return errBadLine
		}
	}
	for i, c := range req.target {
		// Visible ASCII only: no spaces, controls or raw UTF-8 (RFC 3986;
		// a client encodes them), and a % starts an escape.
		if c <= ' ' || c >= 0x7f {
			return errBadLine
		}
		if c == '%' && (i+2 >= len(req.target) || !isHex(req.target[i+1]) || !isHex(req.target[i+2])) {
			return errBadLine
		}
	}
	// origin-form (/path), asterisk-form (*), absolute-form (http://h/p,
	// of a client that thinks it talks to a forward proxy); CONNECT's
	// authority-form goes to net/http.
	switch {
	case req.target[0] == '/', string(req.target) == "*", string(req.method) == "CONNECT":
	case hasPrefixFold(req.target, "http://"), hasPrefixFold(req.target, "https://"):
	default:
		return errBadLine
	}
	switch string(version) {
	case "HTTP/1.1":
		req.minor = 1
	case "HTTP/1.0":
		req.minor = 0
	case "HTTP/2.0":
		if string(req.method) == "PRI" && string(req.target) == "*" {
			req.h2Preface = true
			return nil
		}
		return errBadVersion
	default:
		if len(version) == 8 && string(version[:5]) == "HTTP/" && version[6] == '.' && isDigit(version[5]) && isDigit(version[7]) {
			return errBadVersion
		}
		return errBadLine
	}
	return nil
}

// parseResponse parses the response head at the start of buf.
func parseResponse(buf []byte, res *response) (int, error) {
	res.reset()
	line, n, ok := nextLine(buf)
	if !ok {
		return 0, errIncomplete
	}
	// HTTP/1.x SP 3DIGIT SP reason (the reason may be empty, the space
	// before it is sometimes missing).
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
		!isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11]) || (len(line) > 12 && line[12] != ' ') {
		return 0, errors.New("malformed status line")
	}
	res.minor = int(line[7] - '0')
	res.status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	if res.status < 100 {
		return 0, errors.New("malformed status line")
	}
	res.reason = nil
	if len(line) > 13 {
		res.reason = line[13:]
		for _, c := range res.reason {
			if c < ' ' && c != '\t' || c == 0x7f {
				return 0, errors.New("malformed status line")
			}
		}
	}
	end, err := parseFields(buf, n, &res.message)
	if err != nil {
		var he *headError
		if errors.As(err, &he) {
			return 0, errors.New("malformed response head: " + he.msg)
		}
		return 0, err
	}
	if res.chunked && res.contentLength >= 0 {
		return 0, errors.New("malformed response head: both Content-Length and Transfer-Encoding")
	}
	if res.minor == 0 && !res.keepAlive {
		res.close = true
	}
	return end, nil
}

// parseFields reads header lines from buf[pos:] up to the empty line,
// appending them to m.fields and noting framing and connection headers.
// It returns the end of
// the head.
func parseFields(buf []byte, pos int, m *message) (int, error) {
	for {
		line, n, ok := nextLine(buf[pos:])
		if !ok {
			return 0, errIncomplete
		}
		pos += n
		if len(line) == 0 {
			return pos, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			return 0, errObsFold
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return 0, errBadName
		}
		f := field{name: line[:colon], value: trimOWS(line[colon+1:])}
		for _, c := range f.name {
			if !isTokenChar(c) { // a space before the colon included (RFC 9112 5.1)
				return 0, errBadName
			}
		}
		for _, c := range f.value {
			if c < ' ' && c != '\t' || c == 0x7f {
				return 0, errBadValue
			}
		}
		if len(m.fields) == maxFields {
			return 0, errTooManyFields
		}
		m.fields = append(m.fields, f)
		switch {
		case equalFold(f.name, "content-length"):
			cl, ok := parseContentLength(f.value)
			if !ok {
				return 0, errBadCL
			}
			if m.contentLength >= 0 && m.contentLength != cl {
				return 0, errTwoCL
			}
			m.contentLength = cl
		case equalFold(f.name, "transfer-encoding"):
			// One header, one coding, chunked: anything else (a list, a
			// second header, gzip) is a framing the lb will not guess at.
			if m.chunked || !equalFold(f.value, "chunked") {
				return 0, errBadTE
			}
			m.chunked = true
		case equalFold(f.name, "connection"):
			for tok := range tokens(f.value) {
				switch {
				case equalFold(tok, "close"):
					m.close = true
				case equalFold(tok, "keep-alive"):
					m.keepAlive = true
				default:
					m.connNamed = append(m.connNamed, tok)
				}
			}
		}
	}
}

// parseContentLength accepts 1*DIGIT, up to 18 digits (no sign, no list,
// no overflow).
func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// tokens yields the non-empty elements of a comma-separated list, trimmed.
func tokens(v []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(v) > 0 {
			var tok []byte
			if i := bytes.IndexByte(v, ','); i >= 0 {
				tok, v = v[:i], v[i+1:]
			} else {
				tok, v = v, nil
			}
			if tok = trimOWS(tok); len(tok) > 0 && !yield(tok) {
				return
			}
		}
	}
}

func hasToken(v []byte, want string) bool {
	for tok := range tokens(v) {
		if equalFold(tok, want) {
			return true
		}
	}
	return false
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares an ASCII header name or token with a lower-case want.
func equalFold(b []byte, want string) bool {
	if len(b) != len(want) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && equalFold(b[:len(prefix)], prefix)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// isTokenChar reports whether c may appear in a token (RFC 9110 5.6.2).
func isTokenChar(c byte) bool { return c < 0x80 && tokenTable[c] }

var tokenTable = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// validHost accepts what net/http's server does in spirit: a host, an IP
// literal in brackets, an optional port; no spaces, slashes or controls.
func validHost(h []byte) bool {
	for _, c := range h {
		if c <= ' ' || c >= 0x7f || c == '/' || c == '\\' || c == '?' || c == '#' || c == '@' {
			return false
		}
	}
	return true
}
