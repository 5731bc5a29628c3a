// Package routing is the lb's L7 routing (LB_ROUTES_FILE): pools of
// backends, each with its own policy, discovery and health, and routes
// that send a request to a pool by its Host and path prefix, the guide's
// "/api to server A, /images to server B". The table is reloaded on SIGHUP
// and when the file changes, swapped in atomically; a bad file is refused
// and the running table stays.
package routing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/lb/internal/discovery"
)

// Config is the routes file, JSON:
//
//	{
//	  "pools": {
//	    "api":    {"backends": "dns://api:8080", "policy": "least_request"},
//	    "static": {"backends": "http://origin:8090 weight=2, http://origin-b:8090"},
//	    "sticky": {"backends": "dns://api:8080", "policy": "hash", "hash_key": "cookie:session", "hash_balance_factor": 125}
//	  },
//	  "routes": [
//	    {"prefix": "/api", "pool": "api"},
//	    {"host": "images.lab", "prefix": "/", "pool": "static"},
//	    {"prefix": "/", "pool": "api"}
//	  ]
//	}
//
// backends is written as LB_BACKENDS is; policy is one of LB_POLICY's
// values (round_robin when left out). A route without host matches any
// host. Unknown fields are errors, so a typo cannot pass silently.
type Config struct {
	Pools  map[string]PoolSpec `json:"pools"`
	Routes []Route             `json:"routes"`
}

// PoolSpec is one pool as the file describes it. Two specs that are equal
// describe the same pool: a reload keeps it, with its health state.
type PoolSpec struct {
	Backends          string `json:"backends"`
	Policy            string `json:"policy,omitempty"`
	HashKey           string `json:"hash_key,omitempty"`
	HashBalanceFactor int    `json:"hash_balance_factor,omitempty"`
}

// Route sends requests whose Host is Host (any host when empty or "*")
// and whose path starts with Prefix to Pool. A prefix matches whole path
// segments: /api matches /api and /api/users, not /apiary; a prefix that
// ends in / matches what starts with it.
type Route struct {
	Host   string `json:"host,omitempty"`
	Prefix string `json:"prefix"`
	Pool   string `json:"pool"`
}

// maxConfigBytes bounds the file: a routes table is a few kilobytes.
const maxConfigBytes = 1 << 20

// Parse reads and checks a routes file; the error says what is wrong and
// where, in words an operator can act on.
func Parse(data []byte) (*Config, error) {
	if len(data) > maxConfigBytes {
		return nil, fmt.Errorf("routes file is %d bytes, over the %d allowed", len(data), maxConfigBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("routes file is not the expected JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("routes file has more than one JSON value")
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) check() error {
	if len(c.Pools) == 0 {
		return errors.New(`no pools (want "pools": {"name": {"backends": "dns://api:8080"}})`)
	}
	for name, p := range c.Pools {
		if name == "" || strings.ContainsAny(name, " \t\r\n\"/") || len(name) > 64 {
			return fmt.Errorf("pool name %q: want a short name without spaces, quotes or slashes", name)
		}
		if _, err := discovery.ParseTargets(p.Backends); err != nil {
			return fmt.Errorf("pool %q: backends: %w", name, err)
		}
		if _, err := p.NewPolicy(); err != nil {
			return fmt.Errorf("pool %q: %w", name, err)
		}
	}
	if len(c.Routes) == 0 {
		return errors.New(`no routes (want "routes": [{"prefix": "/", "pool": "name"}])`)
	}
	seen := map[[2]string]bool{}
	for i, r := range c.Routes {
		where := fmt.Sprintf("route %d (host %q, prefix %q)", i+1, r.Host, r.Prefix)
		if _, ok := c.Pools[r.Pool]; !ok {
			return fmt.Errorf("%s: no pool %q", where, r.Pool)
		}
		if !strings.HasPrefix(r.Prefix, "/") || strings.ContainsAny(r.Prefix, " \t\r\n?#") {
			return fmt.Errorf("%s: prefix must start with / and hold no spaces, ? or #", where)
		}
		if r.Host != "" && r.Host != "*" {
			if strings.ContainsAny(r.Host, " \t\r\n/*") || strings.Contains(r.Host, ":") && net.ParseIP(r.Host) == nil {
				return fmt.Errorf("%s: host must be a name or address without port, or * for any", where)
			}
		}
		key := [2]string{normalHost(r.Host), r.Prefix}
		if seen[key] {
			return fmt.Errorf("%s: the same host and prefix as an earlier route", where)
		}
		seen[key] = true
	}
	return nil
}

// NewPolicy returns the pool's balancing policy.
func (p PoolSpec) NewPolicy() (balancer.Policy, error) {
	name := p.Policy
	if name == "" {
		name = "round_robin"
	}
	var key balancer.HashKey
	if name == "hash" {
		var err error
		if key, err = balancer.ParseHashKey(cmpOr(p.HashKey, "client")); err != nil {
			return nil, fmt.Errorf("hash_key: %w", err)
		}
		if f := p.HashBalanceFactor; f != 0 && (f < 100 || f > 10000) {
			return nil, fmt.Errorf("hash_balance_factor %d: want 0 (no bound) or 100 to 10000", f)
		}
	} else if p.HashKey != "" || p.HashBalanceFactor != 0 {
		return nil, fmt.Errorf("hash_key and hash_balance_factor go with policy hash, not %q", name)
	}
	return balancer.New(name, key, p.HashBalanceFactor)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// normalHost is the form hosts are compared in: lower case, "" for any.
func normalHost(h string) string {
	if h == "*" {
		return ""
	}
	return strings.ToLower(h)
}
