// Package balancer decides which backend serves a request. A policy is one
// method, so adding a policy (least-request, consistent hash, ...) is adding
// a file with one type.
package balancer

import (
	"net/http"
	"net/url"
)

// Backend is one server the load balancer forwards to. Discovery keeps the
// same *Backend for an address across refreshes, so state that later
// policies and health checks attach here survives DNS re-resolution.
type Backend struct {
	// URL is where requests go: scheme and host:port, no path.
	URL *url.URL
	// Addr is host:port, the backend's name in logs, headers and metric labels.
	Addr string
}

// NewBackend returns a backend for a URL that names a host and port.
func NewBackend(u *url.URL) *Backend {
	return &Backend{URL: &url.URL{Scheme: u.Scheme, Host: u.Host}, Addr: u.Host}
}

func (b *Backend) String() string { return b.Addr }

// Policy picks the backend for a request among the available ones. It gets
// the request so that policies which route by content (a cookie, a path, a
// client address) fit the same interface as those which do not. It returns
// nil only when backends is empty. Pick is called concurrently.
type Policy interface {
	Pick(r *http.Request, backends []*Backend) *Backend
}
