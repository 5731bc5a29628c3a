package proxy

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"

	"scalelab/services/lb/internal/forward"
)

func peerIP(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

// setForwarded writes X-Forwarded-For/Host/Proto and Via on the outbound
// request. Before Rewrite runs, ReverseProxy has removed X-Forwarded-* and
// Forwarded from the outbound headers (still there on pr.In), and every
// hop-by-hop header, including those Connection names.
func setForwarded(t forward.Trusted, pr *httputil.ProxyRequest) {
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
var via11 = []string{"1.1 " + forward.ViaName}

func addVia(h http.Header, major, minor int) {
	if len(h["Via"]) == 0 && major == 1 && minor == 1 {
		h["Via"] = via11
		return
	}
	h.Add("Via", via(major, minor))
}

func via(major, minor int) string {
	if major >= 2 {
		return fmt.Sprintf("%d %s", major, forward.ViaName)
	}
	return fmt.Sprintf("%d.%d %s", major, minor, forward.ViaName)
}
