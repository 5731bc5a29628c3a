package httpcache

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
)

// interim forwards the origin's interim (1xx) responses, such as 103 Early
// Hints, to the client whose request fetched: they are meant for it, and
// never stored (only a final response is, RFC 9111 section 3). The
// transport reports them from its own goroutine while the handler waits for
// the final response; the handler closes the interim before it writes
// anything, so that nothing is written after it.
type interim struct {
	mu     sync.Mutex
	w      http.ResponseWriter
	closed bool
}

func newInterim(w http.ResponseWriter) *interim { return &interim{w: w} }

// trace returns ctx reporting interim responses to i.
func (i *interim) trace(ctx context.Context) context.Context {
	if i == nil {
		return ctx
	}
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{Got1xxResponse: i.forward})
}

func (i *interim) forward(code int, header textproto.MIMEHeader) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	// 100 Continue answers the edge's own request body; 101 never reaches
	// here (the edge does not upgrade).
	if i.closed || code == http.StatusContinue || code == http.StatusSwitchingProtocols {
		return nil
	}
	// The 1xx is written with the writer's header map; the final answer's
	// headers set so far are put aside meanwhile.
	h := i.w.Header()
	final := h.Clone()
	clear(h)
	maps.Copy(h, http.Header(header))
	removeHopByHop(h)
	i.w.WriteHeader(code)
	clear(h)
	maps.Copy(h, final)
	return nil
}

// close stops forwarding: from now on the handler writes.
func (i *interim) close() {
	if i == nil {
		return
	}
	i.mu.Lock()
	i.closed = true
	i.mu.Unlock()
}
