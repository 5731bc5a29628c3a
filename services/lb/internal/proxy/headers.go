package proxy

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strings"

	"scalelab/services/platform"
)

// Trusted is the set of peers (other proxies in front of the lb) whose
// X-Forwarded-* headers are believed. Anyone else could write anything in
// them, so from anyone else they are replaced, never extended.
type Trusted []netip.Prefix

// ParseTrusted parses a comma-separated list of CIDR prefixes and plain
// addresses ("10.0.0.0/8, 192.0.2.7").
func ParseTrusted(list string) (Trusted, error) {
	var out Trusted
	for _, item := range platform.SplitList(list) {
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%q is neither a CIDR prefix (10.0.0.0/8) nor an IP address", item)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Contains reports whether ip (as text) is a trusted peer.
func (t Trusted) Contains(ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the address of the client as far as it can be known: the
// peer, or, when the peer is trusted, the right-most address in
// X-Forwarded-For that is not itself a trusted proxy. (The left-most entry
// is whatever the client chose to write.)
func (t Trusted) clientAddr(peer string, xff []string) string {
	if !t.Contains(peer) {
		return peer
	}
	client := peer
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a := strings.TrimSpace(parts[j])
			if a == "" {
				continue
			}
			client = a
			if !t.Contains(a) {
				return a
			}
		}
	}
	return client
}

func peerIP(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

// viaName is how the lb names itself in Via (RFC 9110 7.6.3 allows a
// pseudonym instead of a host name).
const viaName = "scalelab-lb"

// setForwarded writes X-Forwarded-For/Host/Proto and Via on the outbound
// request. Before Rewrite runs, ReverseProxy has removed X-Forwarded-* and
// Forwarded from the outbound headers (still there on pr.In), and every
// hop-by-hop header, including those Connection names.
func (t Trusted) setForwarded(pr *httputil.ProxyRequest) {
	in := pr.In
	if len(t) > 0 && t.Contains(peerIP(in.RemoteAddr)) {
		// A trusted proxy's chain is kept and extended; what it says of
		// the original Host and scheme is kept too.
		if prior := in.Header.Values("X-Forwarded-For"); len(prior) > 0 {
			pr.Out.Header["X-Forwarded-For"] = []string{strings.Join(prior, ", ")}
		}
		pr.SetXForwarded()
		for _, h := range []string{"X-Forwarded-Host", "X-Forwarded-Proto"} {
			if v := in.Header.Get(h); v != "" {
				pr.Out.Header.Set(h, v)
			}
		}
	} else {
		pr.SetXForwarded()
	}
	addVia(pr.Out.Header, in.ProtoMajor, in.ProtoMinor)
}

// via11 is the Via of nearly every message, shared so that adding it costs
// no allocation. Sharing is safe because nothing writes into a header's
// value slice in place: Add appends, which copies a full slice, and
// ReverseProxy copies response headers value by value.
var via11 = []string{"1.1 " + viaName}

func addVia(h http.Header, major, minor int) {
	if len(h["Via"]) == 0 && major == 1 && minor == 1 {
		h["Via"] = via11
		return
	}
	h.Add("Via", via(major, minor))
}

func via(major, minor int) string {
	if major >= 2 {
		return fmt.Sprintf("%d %s", major, viaName)
	}
	return fmt.Sprintf("%d.%d %s", major, minor, viaName)
}
