package loadgen

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// preflight dials every distinct host once before the run, so a typo in a
// port or a stack that is not up gives one clear line instead of a run of
// thousands of identical transport errors.
func preflight(ctx context.Context, cfg *Config) error {
	seen := map[string]bool{}
	raws := cfg.URLs
	if cfg.Scenario != nil {
		raws = cfg.Targets
	}
	for _, raw := range raws {
		u, err := url.Parse(strings.ReplaceAll(raw, "{id}", "1"))
		if err != nil {
			return fmt.Errorf("%q: %v", raw, err)
		}
		port := u.Port()
		if port == "" {
			port = "80"
			if u.Scheme == "https" {
				port = "443"
			}
		}
		host := net.JoinHostPort(u.Hostname(), port)
		if seen[host] {
			continue
		}
		seen[host] = true
		d := net.Dialer{Timeout: 3 * time.Second}
		conn, err := d.DialContext(ctx, "tcp", host)
		if err != nil {
			return fmt.Errorf("cannot reach %s (%v): is the stack up (make up) and the port right?", u.Scheme+"://"+u.Host, unwrapOp(err))
		}
		conn.Close()
	}
	return nil
}

// unwrapOp shortens "dial tcp 127.0.0.1:9: connect: connection refused" to
// its cause.
func unwrapOp(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}
