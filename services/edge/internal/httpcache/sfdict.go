package httpcache

import "strings"

// CDN-Cache-Control is a Structured Field dictionary (RFC 9213 section 2.1,
// RFC 8941 section 3.2); a value that does not parse as one, or that gives a
// directive the edge uses a value of the wrong type, is ignored whole, and
// Cache-Control applies instead. ParseCacheControl is lenient, as
// Cache-Control's grammar allows; this check is what makes CDN-Cache-Control
// strict. Written by hand: no well-kept Go library parses Structured Fields
// with the strictness RFC 8941 asks for, and a validator is small.

// validCDNCacheControl reports whether v is a dictionary whose lifetime
// directives are integers.
func validCDNCacheControl(v string) bool {
	p := sfParser{s: v}
	p.ows()
	for {
		key, ok := p.key()
		if !ok {
			return false
		}
		if p.eat('=') {
			integer := p.peekInteger()
			if !p.itemOrInnerList() {
				return false
			}
			switch key {
			case "max-age", "s-maxage", "stale-while-revalidate", "stale-if-error":
				if !integer {
					return false
				}
			}
		} else if !p.params() {
			return false
		}
		p.ows()
		if p.i == len(p.s) {
			return true
		}
		if !p.eat(',') {
			return false
		}
		p.ows()
		if p.i == len(p.s) {
			return false // a trailing comma
		}
	}
}

type sfParser struct {
	s string
	i int
}

func (p *sfParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *sfParser) ows() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *sfParser) sp() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *sfParser) key() (string, bool) {
	start := p.i
	if p.i == len(p.s) || !(isLower(p.s[p.i]) || p.s[p.i] == '*') {
		return "", false
	}
	for p.i < len(p.s) && (isLower(p.s[p.i]) || isDigit(p.s[p.i]) || strings.IndexByte("_-.*", p.s[p.i]) >= 0) {
		p.i++
	}
	return p.s[start:p.i], true
}

func (p *sfParser) params() bool {
	for p.eat(';') {
		p.sp()
		if _, ok := p.key(); !ok {
			return false
		}
		if p.eat('=') && !p.bareItem() {
			return false
		}
	}
	return true
}

func (p *sfParser) itemOrInnerList() bool {
	if p.eat('(') {
		for {
			p.sp()
			if p.eat(')') {
				return p.params()
			}
			if !p.bareItem() || !p.params() {
				return false
			}
			if p.i < len(p.s) && p.s[p.i] != ' ' && p.s[p.i] != ')' {
				return false
			}
		}
	}
	return p.bareItem() && p.params()
}

// peekInteger reports whether an sf-integer starts here (and is not a
// decimal).
func (p *sfParser) peekInteger() bool {
	j := p.i
	if j < len(p.s) && p.s[j] == '-' {
		j++
	}
	n := 0
	for j < len(p.s) && isDigit(p.s[j]) {
		j++
		n++
	}
	return n > 0 && n <= 15 && (j == len(p.s) || p.s[j] != '.')
}

func (p *sfParser) bareItem() bool {
	if p.i == len(p.s) {
		return false
	}
	switch c := p.s[p.i]; {
	case c == '-' || isDigit(c):
		return p.number()
	case c == '"':
		p.i++
		for p.i < len(p.s) {
			c := p.s[p.i]
			p.i++
			switch {
			case c == '\\':
				if p.i == len(p.s) || (p.s[p.i] != '"' && p.s[p.i] != '\\') {
					return false
				}
				p.i++
			case c == '"':
				return true
			case c < 0x20 || c > 0x7e:
				return false
			}
		}
		return false
	case c == ':':
		p.i++
		for p.i < len(p.s) && (isLower(p.s[p.i]) || isUpper(p.s[p.i]) || isDigit(p.s[p.i]) || strings.IndexByte("+/=", p.s[p.i]) >= 0) {
			p.i++
		}
		return p.eat(':')
	case c == '?':
		p.i++
		return p.eat('0') || p.eat('1')
	case isLower(c) || isUpper(c) || c == '*':
		for p.i < len(p.s) && (isTchar(p.s[p.i]) || p.s[p.i] == ':' || p.s[p.i] == '/') {
			p.i++
		}
		return true
	}
	return false
}

func (p *sfParser) number() bool {
	p.eat('-')
	intDigits, fracDigits := 0, -1
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case isDigit(c) && fracDigits < 0:
			intDigits++
		case isDigit(c):
			fracDigits++
		case c == '.' && fracDigits < 0 && intDigits > 0:
			fracDigits = 0
		default:
			return p.numberOK(intDigits, fracDigits)
		}
		p.i++
	}
	return p.numberOK(intDigits, fracDigits)
}

func (p *sfParser) numberOK(intDigits, fracDigits int) bool {
	if fracDigits < 0 {
		return intDigits > 0 && intDigits <= 15
	}
	return intDigits > 0 && intDigits <= 12 && fracDigits > 0 && fracDigits <= 3
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isTchar(c byte) bool {
	return isLower(c) || isUpper(c) || isDigit(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
