// Package discovery turns LB_BACKENDS into the current set of backends.
// Static entries are fixed; dns:// entries are re-resolved periodically so
// that `docker compose up --scale api=5` adds replicas without a restart.
package discovery

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"scalelab/services/platform"
)

// Target is one item of LB_BACKENDS.
type Target struct {
	// Raw is the item as written, for logs.
	Raw string
	// Static is set for http:// items: one backend, whose host name (if it
	// is one) the transport resolves at each new connection.
	Static *url.URL
	// Name and Port are set for dns:// items: every address Name resolves
	// to becomes a backend on Port.
	Name, Port string
	// Weight is each resulting backend's weight: 1, or weight=N after the
	// URL (nginx's "server api:8080 weight=3").
	Weight int
}

// IsDNS reports whether the target is re-resolved into several backends.
func (t Target) IsDNS() bool { return t.Static == nil }

// maxWeight bounds weight=N; weights are relative, so a few digits are plenty.
const maxWeight = 1000

// ParseTargets parses a comma-separated list of http://host:port and
// dns://name:port items, each optionally followed by weight=N:
// "http://a:8080 weight=3, dns://api:8080".
func ParseTargets(list string) ([]Target, error) {
	items := platform.SplitList(list)
	if len(items) == 0 {
		return nil, errors.New("no backend listed (want e.g. http://api:8080 or dns://api:8080)")
	}
	var out []Target
	for _, item := range items {
		t, err := parseTarget(item)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func parseTarget(item string) (Target, error) {
	fields := strings.Fields(item)
	weight := 1
	for _, f := range fields[1:] {
		v, ok := strings.CutPrefix(f, "weight=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 1 || n > maxWeight {
			return Target{}, fmt.Errorf("%q: after the URL only weight=N (1 to %d) may follow, got %q", item, maxWeight, f)
		}
		weight = n
	}
	t, err := parseURL(fields[0])
	if err != nil {
		return Target{}, err
	}
	t.Raw, t.Weight = item, weight
	return t, nil
}

func parseURL(item string) (Target, error) {
	u, err := platform.ParseURL(item, "http", "dns")
	if err != nil {
		return Target{}, err
	}
	// A path or query would silently be prefixed to every proxied request
	// (SetURL joins paths); refuse it rather than surprise.
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return Target{}, fmt.Errorf("%q: want only scheme://host:port, no path, query or credentials", item)
	}
	if u.Scheme == "http" {
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "80")
		}
		return Target{Raw: item, Static: &url.URL{Scheme: "http", Host: host}}, nil
	}
	// DNS gives addresses, not ports (no SRV records in compose), so the
	// port must be explicit.
	if u.Port() == "" {
		return Target{}, fmt.Errorf("%q: a dns:// backend needs a port, e.g. dns://api:8080", item)
	}
	return Target{Raw: item, Name: u.Hostname(), Port: u.Port()}, nil
}
