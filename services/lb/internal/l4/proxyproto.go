package l4

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// ProxyProtocol selects the PROXY protocol header written to backends
// before any client byte, so that they learn the client's address:
// https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
type ProxyProtocol int

const (
	ProxyOff ProxyProtocol = iota
	ProxyV1                // human-readable line: "PROXY TCP4 src dst sport dport\r\n"
	ProxyV2                // binary: 16-byte preamble, then the addresses
)

// ParseProxyProtocol reads L4_PROXY_PROTOCOL: off, v1 or v2.
func ParseProxyProtocol(s string) (ProxyProtocol, error) {
	switch s {
	case "off", "":
		return ProxyOff, nil
	case "v1":
		return ProxyV1, nil
	case "v2":
		return ProxyV2, nil
	}
	return ProxyOff, fmt.Errorf("%q is not a PROXY protocol version (off, v1 or v2)", s)
}

func (p ProxyProtocol) String() string {
	return [...]string{"off", "v1", "v2"}[p]
}

// v2Signature opens every version 2 header.
var v2Signature = [12]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// AppendHeader appends the header for a connection from src to dst (the
// client's address and the address it connected to) to b. Addresses that
// are not TCP ones are sent as unknown (v1 "PROXY UNKNOWN", v2 AF_UNSPEC):
// the spec asks receivers to use the connection's own endpoints then.
func (p ProxyProtocol) AppendHeader(b []byte, src, dst net.Addr) []byte {
	s, sok := addrPort(src)
	d, dok := addrPort(dst)
	known := sok && dok
	// Both addresses must be of one family: an IPv4 one next to an IPv6
	// one is sent in its IPv4-mapped IPv6 form.
	v4 := s.Addr().Is4() && d.Addr().Is4()
	switch p {
	case ProxyV1:
		if !known {
			return append(b, "PROXY UNKNOWN\r\n"...)
		}
		b = append(b, "PROXY "...)
		if v4 {
			b = append(b, "TCP4 "...)
		} else {
			b = append(b, "TCP6 "...)
			s = netip.AddrPortFrom(netip.AddrFrom16(s.Addr().As16()), s.Port())
			d = netip.AddrPortFrom(netip.AddrFrom16(d.Addr().As16()), d.Port())
		}
		b = s.Addr().AppendTo(b)
		b = append(b, ' ')
		b = d.Addr().AppendTo(b)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(s.Port()), 10)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(d.Port()), 10)
		return append(b, "\r\n"...)
	case ProxyV2:
		b = append(b, v2Signature[:]...)
		b = append(b, 0x21) // version 2, command PROXY
		switch {
		case !known:
			return append(b, 0x00, 0, 0) // AF_UNSPEC, no address block
		case v4:
			b = append(b, 0x11) // AF_INET, STREAM
			b = binary.BigEndian.AppendUint16(b, 12)
			s4, d4 := s.Addr().As4(), d.Addr().As4()
			b = append(b, s4[:]...)
			b = append(b, d4[:]...)
		default:
			b = append(b, 0x21) // AF_INET6, STREAM
			b = binary.BigEndian.AppendUint16(b, 36)
			s16, d16 := s.Addr().As16(), d.Addr().As16()
			b = append(b, s16[:]...)
			b = append(b, d16[:]...)
		}
		b = binary.BigEndian.AppendUint16(b, s.Port())
		return binary.BigEndian.AppendUint16(b, d.Port())
	}
	return b
}

// addrPort returns a TCP address with IPv4-mapped IPv6 addresses unmapped
// (a dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d).
func addrPort(a net.Addr) (netip.AddrPort, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta == nil {
		return netip.AddrPort{}, false
	}
	ap := ta.AddrPort()
	if !ap.Addr().IsValid() {
		return netip.AddrPort{}, false
	}
	// A zone (fe80::1%eth0) means nothing to the backend and has no place
	// in either header format.
	return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port()), true
}
