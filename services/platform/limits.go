package platform

import (
	"net/http"
	"time"
)

// Limits are what a traffic server grants one client: how long it may take
// to send a request head, how long a kept-alive connection may wait for the
// next request, and how large a head may be.
type Limits struct {
	HeaderTimeout  time.Duration // a request head must arrive within this
	IdleTimeout    time.Duration // keep-alive wait for the next request
	MaxHeaderBytes int           // the largest request head
}

// DefaultLimits are the limits of every traffic server of the project:
// Service.Run's, the lb's HTTPS listener and fast path, the hit paths and
// the net/http servers they hand connections to. One set, so that a client
// meets the same limits whichever engine or listener answers it.
func DefaultLimits() Limits {
	return Limits{HeaderTimeout: 5 * time.Second, IdleTimeout: 90 * time.Second, MaxHeaderBytes: 64 << 10}
}

// OrDefault returns l with every limit that is not above zero replaced by
// DefaultLimits': a server's config leaves the ones it does not tune unset.
func (l Limits) OrDefault() Limits {
	def := DefaultLimits()
	if l.HeaderTimeout <= 0 {
		l.HeaderTimeout = def.HeaderTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = def.IdleTimeout
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = def.MaxHeaderBytes
	}
	return l
}

// Apply sets srv's ReadHeaderTimeout, IdleTimeout and MaxHeaderBytes to l.
func (l Limits) Apply(srv *http.Server) *http.Server {
	srv.ReadHeaderTimeout, srv.IdleTimeout, srv.MaxHeaderBytes = l.HeaderTimeout, l.IdleTimeout, l.MaxHeaderBytes
	return srv
}
