// Package balancer decides which backend serves a request. A policy is one
// method, so adding a policy (least-request, consistent hash, ...) is adding
// a file with one type.
package balancer

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
)

// Backend is one server the load balancer forwards to. Discovery keeps the
// same *Backend for an address across refreshes, so state that policies and
// health checks attach here survives DNS re-resolution.
type Backend struct {
	// URL is where requests go: scheme and host:port, no path.
	URL *url.URL
	// Addr is host:port, the backend's name in logs, headers and metric labels.
	Addr string
	// Weight is the backend's share relative to the others (1 unless
	// LB_BACKENDS says weight=N). Policies that ignore weights ignore it.
	Weight int

	// id is Addr hashed once, so that hashing policies do not rehash the
	// address on every request.
	id uint64
	// inFlight counts requests sent to this backend and not yet finished:
	// the load that least-connections, least-request and bounded-load
	// hashing compare.
	inFlight atomic.Int64
}

// NewBackend returns a backend of weight 1 for a URL that names a host and port.
func NewBackend(u *url.URL) *Backend {
	return &Backend{URL: &url.URL{Scheme: u.Scheme, Host: u.Host}, Addr: u.Host, Weight: 1, id: hashString(u.Host)}
}

func (b *Backend) String() string { return b.Addr }

// InFlight returns the number of requests this backend is serving now.
func (b *Backend) InFlight() int64 { return b.inFlight.Load() }

// Acquire counts a request sent to b; the caller must call Release
// exactly once when it is over (response body closed, or the attempt failed).
func (b *Backend) Acquire() { b.inFlight.Add(1) }

// Release ends what Acquire began.
func (b *Backend) Release() { b.inFlight.Add(-1) }

func (b *Backend) weight() int64 {
	if b.Weight < 1 {
		return 1
	}
	return int64(b.Weight)
}

// Policy picks the backend for a request among the available ones. It gets
// the request so that policies which route by content (a cookie, a path, a
// client address) fit the same interface as those which do not. It returns
// nil only when backends is empty. Pick is called concurrently, and the
// caller must not modify backends.
type Policy interface {
	Pick(r *http.Request, backends []*Backend) *Backend
}

type clientAddrKey struct{}

// WithClientAddr records the client's address as the proxy established it
// (behind a trusted proxy, the address from X-Forwarded-For rather than
// the peer's), for policies that hash on the client.
func WithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// ClientAddr returns the address recorded by WithClientAddr, or else the
// IP of the connection's peer.
func ClientAddr(r *http.Request) string {
	if a, ok := r.Context().Value(clientAddrKey{}).(string); ok {
		return a
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
