package l4

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// proxyHeader is what a receiver learns from a PROXY header.
type proxyHeader struct {
	family   string // TCP4, TCP6 or UNKNOWN
	src, dst string // host:port; empty for UNKNOWN
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

// readProxyHeader parses a header as strictly as the spec
// (proxy-protocol.txt, sections 2.1 and 2.2) allows a receiver to, and
// refuses anything our sender should never produce (TLVs, LOCAL).
func readProxyHeader(r *bufio.Reader, v ProxyProtocol) (proxyHeader, error) {
	if v == ProxyV1 {
		return readV1(r)
	}
	return readV2(r)
}

func readV1(r *bufio.Reader) (proxyHeader, error) {
	// "a receiver must wait for up to 107 bytes" and the line ends in CRLF.
	peek, _ := r.Peek(107)
	end := bytes.Index(peek, []byte("\r\n"))
	if end < 0 {
		return proxyHeader{}, fmt.Errorf("no CRLF within 107 bytes: %q", peek)
	}
	line := string(peek[:end])
	r.Discard(end + 2)
	f := strings.Split(line, " ") // exactly one space between fields
	if f[0] != "PROXY" || len(f) < 2 {
		return proxyHeader{}, fmt.Errorf("line %q does not start with \"PROXY \"", line)
	}
	if f[1] == "UNKNOWN" {
		return proxyHeader{family: "UNKNOWN"}, nil
	}
	if len(f) != 6 || (f[1] != "TCP4" && f[1] != "TCP6") {
		return proxyHeader{}, fmt.Errorf("line %q: want PROXY TCP4|TCP6 src dst sport dport", line)
	}
	var hosts [2]string
	for i, s := range f[2:4] {
		ip, err := netip.ParseAddr(s)
		if err != nil || ip.Zone() != "" {
			return proxyHeader{}, fmt.Errorf("line %q: address %q: %v", line, s, err)
		}
		if f[1] == "TCP4" && !ip.Is4() || f[1] == "TCP6" && !ip.Is6() {
			return proxyHeader{}, fmt.Errorf("line %q: %s is not an %s address", line, s, f[1])
		}
		hosts[i] = ip.String()
	}
	var ports [2]string
	for i, s := range f[4:6] {
		n, err := strconv.ParseUint(s, 10, 16)
		// "a number in the range 0..65535 ... leading zeroes MUST NOT be emitted"
		if err != nil || strconv.FormatUint(n, 10) != s {
			return proxyHeader{}, fmt.Errorf("line %q: port %q", line, s)
		}
		ports[i] = s
	}
	return proxyHeader{f[1], net.JoinHostPort(hosts[0], ports[0]), net.JoinHostPort(hosts[1], ports[1])}, nil
}

func readV2(r *bufio.Reader) (proxyHeader, error) {
	var fixed [16]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return proxyHeader{}, err
	}
	if !bytes.Equal(fixed[:12], []byte("\r\n\r\n\x00\r\nQUIT\n")) {
		return proxyHeader{}, fmt.Errorf("signature % x", fixed[:12])
	}
	if fixed[12] != 0x21 {
		return proxyHeader{}, fmt.Errorf("version/command 0x%02x, want 0x21 (v2, PROXY)", fixed[12])
	}
	n := int(binary.BigEndian.Uint16(fixed[14:16]))
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return proxyHeader{}, err
	}
	var size int
	var family string
	switch fixed[13] {
	case 0x00:
		family, size = "UNKNOWN", 0
	case 0x11:
		family, size = "TCP4", 4
	case 0x21:
		family, size = "TCP6", 16
	default:
		return proxyHeader{}, fmt.Errorf("family/protocol 0x%02x", fixed[13])
	}
	if n != 2*size+4*boolInt(size > 0) {
		return proxyHeader{}, fmt.Errorf("%s with length %d (no TLVs are sent)", family, n)
	}
	if size == 0 {
		return proxyHeader{family: family}, nil
	}
	src, _ := netip.AddrFromSlice(body[:size])
	dst, _ := netip.AddrFromSlice(body[size : 2*size])
	sport := binary.BigEndian.Uint16(body[2*size:])
	dport := binary.BigEndian.Uint16(body[2*size+2:])
	return proxyHeader{family, netip.AddrPortFrom(src, sport).String(), netip.AddrPortFrom(dst, dport).String()}, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func tcpAddr(s string) *net.TCPAddr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }

// The exact bytes, written out by hand from the spec's examples and layout.
func TestAppendHeaderExactBytes(t *testing.T) {
	v4src, v4dst := tcpAddr("192.168.0.1:56324"), tcpAddr("192.168.0.11:443")
	v6src, v6dst := tcpAddr("[2001:db8::1]:1000"), tcpAddr("[2001:db8::2]:8001")
	mapped := tcpAddr("[::ffff:10.0.0.7]:40000")
	concat := func(parts ...string) string { return strings.Join(parts, "") }
	sig := "\r\n\r\n\x00\r\nQUIT\n"
	v6a := "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
	v6b := "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02"
	tests := []struct {
		name     string
		src, dst net.Addr
		v1, v2   string
	}{
		{"IPv4 (the spec's own example)", v4src, v4dst,
			"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
			concat(sig, "\x21\x11\x00\x0c", "\xc0\xa8\x00\x01", "\xc0\xa8\x00\x0b", "\xdc\x04", "\x01\xbb")},
		{"IPv6", v6src, v6dst,
			"PROXY TCP6 2001:db8::1 2001:db8::2 1000 8001\r\n",
			concat(sig, "\x21\x21\x00\x24", v6a, v6b, "\x03\xe8", "\x1f\x41")},
		{"IPv4-mapped client on a dual-stack listener is IPv4", mapped, v4dst,
			"PROXY TCP4 10.0.0.7 192.168.0.11 40000 443\r\n",
			concat(sig, "\x21\x11\x00\x0c", "\x0a\x00\x00\x07", "\xc0\xa8\x00\x0b", "\x9c\x40", "\x01\xbb")},
		{"IPv4 next to IPv6 is sent as IPv4-mapped IPv6", v4src, v6dst,
			"PROXY TCP6 ::ffff:192.168.0.1 2001:db8::2 56324 8001\r\n",
			concat(sig, "\x21\x21\x00\x24", "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xc0\xa8\x00\x01", v6b, "\xdc\x04", "\x1f\x41")},
		{"not TCP: unknown", &net.UnixAddr{Name: "/tmp/s", Net: "unix"}, v4dst,
			"PROXY UNKNOWN\r\n",
			concat(sig, "\x21\x00\x00\x00")},
		{"zone dropped", tcpAddr("[fe80::1%eth0]:1"), tcpAddr("[fe80::2%eth0]:2"),
			"PROXY TCP6 fe80::1 fe80::2 1 2\r\n",
			concat(sig, "\x21\x21\x00\x24", "\xfe\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01",
				"\xfe\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02", "\x00\x01", "\x00\x02")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(ProxyV1.AppendHeader(nil, tt.src, tt.dst)); got != tt.v1 {
				t.Errorf("v1 = %q, want %q", got, tt.v1)
			}
			if got := string(ProxyV2.AppendHeader(nil, tt.src, tt.dst)); got != tt.v2 {
				t.Errorf("v2 = % x\nwant % x", got, tt.v2)
			}
			// And a strict receiver agrees on both.
			for _, v := range []ProxyProtocol{ProxyV1, ProxyV2} {
				if _, err := readProxyHeader(bufio.NewReader(bytes.NewReader(v.AppendHeader(nil, tt.src, tt.dst))), v); err != nil {
					t.Errorf("%s: strict parser refused it: %v", v, err)
				}
			}
			if got := ProxyOff.AppendHeader(nil, tt.src, tt.dst); len(got) != 0 {
				t.Errorf("off appended %q", got)
			}
		})
	}
}

// The longest v1 line fits the 107 bytes a receiver waits for, and the
// header fits the buffer handle keeps on its stack.
func TestHeaderLengths(t *testing.T) {
	src := tcpAddr("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535")
	dst := tcpAddr("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")
	if n := len(ProxyV1.AppendHeader(nil, src, dst)); n > 107 {
		t.Errorf("longest v1 header is %d bytes, over the spec's 107", n)
	}
	for _, v := range []ProxyProtocol{ProxyV1, ProxyV2} {
		if n := len(v.AppendHeader(nil, src, dst)); n > 108 {
			t.Errorf("%s header is %d bytes; handle's buffer is 108", v, n)
		}
	}
}

func TestParseProxyProtocol(t *testing.T) {
	for in, want := range map[string]ProxyProtocol{"": ProxyOff, "off": ProxyOff, "v1": ProxyV1, "v2": ProxyV2} {
		if got, err := ParseProxyProtocol(in); err != nil || got != want {
			t.Errorf("ParseProxyProtocol(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"on", "V1", "2", "v3"} {
		if _, err := ParseProxyProtocol(in); err == nil {
			t.Errorf("ParseProxyProtocol(%q) accepted it", in)
		}
	}
}
