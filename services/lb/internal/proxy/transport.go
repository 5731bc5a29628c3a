package proxy

import (
	"net"
	"net/http"
	"time"
)

// NewTransport returns the one transport shared by every backend. Each
// backend gets its own idle pool inside it, so a request usually finds a
// warm connection instead of paying for a TCP handshake. (The tutorial's
// proxies share http.DefaultTransport, which keeps only 2 idle connections
// per host: under concurrency most requests dial again.)
func NewTransport(connectTimeout, responseHeaderTimeout time.Duration) *http.Transport {
	return &http.Transport{
		// Backends are on the private network: never send them through an
		// HTTP_PROXY that happens to be in the environment.
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   connectTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		// The default of 2 idle connections per host is far too few for a
		// proxy: under concurrency, every response beyond the second would
		// close its connection and the next request would dial again.
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 256,
		// Shorter than the backends' own idle timeout (90s, set by the
		// platform): the side that sends requests must give up an idle
		// connection before the server closes it. Otherwise a request can
		// be written onto a connection the backend has just closed; the
		// transport retries only idempotent requests, so a POST would fail
		// with a 502 it did not deserve.
		IdleConnTimeout: 60 * time.Second,
		// Bounds the wait for the backend's status line and headers, not
		// the body: a long download or stream is not a slow backend.
		ResponseHeaderTimeout: responseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		// Pass Accept-Encoding through as the client sent it. Otherwise the
		// transport asks for gzip on its own and decompresses the answer,
		// spending the balancer's CPU for nothing.
		DisableCompression: true,
		// Backends speak HTTP/1.1 on a trusted network; HTTP/2 to them would
		// multiplex every request onto one connection per backend, which
		// hides the connection-pool behaviour this lab measures.
		ForceAttemptHTTP2: false,
	}
}
