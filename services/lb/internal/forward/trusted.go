package forward

import (
	"fmt"
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

// ClientAddr is the address of the client as far as it can be known: the
// peer (an IP, no port), or, when the peer is trusted, the right-most
// address in the X-Forwarded-For values xff that is not itself a trusted
// proxy. (The left-most entry is whatever the client chose to write.)
func (t Trusted) ClientAddr(peer string, xff []string) string {
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
