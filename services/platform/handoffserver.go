package platform

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// HandoffServer runs a server of the project's own that answers some
// requests on the connection (Handle) and hands the others, with the bytes
// already read, to net/http serving Fallback through a HandoffListener:
// the lb's fast path and the hit paths (PlainGets). Both halves drain
// together, as the platform's servers do: when the listener closes,
// Stopping turns true, the handed-over connections get net/http's Shutdown
// and the own ones close as they turn idle (Conns); after ShutdownTimeout
// both close.
type HandoffServer struct {
	Handle   func(nc net.Conn, handoff *HandoffListener)
	Fallback http.Handler
	Conns    *ConnSet     // the own connections, registered by Handle
	Stopping *atomic.Bool // set once the listener has closed; Handle reads it

	Limits                        // the handed-over server's
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT
	Logger          *slog.Logger
}

// Serve accepts on ln until ctx is cancelled, then drains both halves.
func (h *HandoffServer) Serve(ctx context.Context, ln net.Listener) error {
	handoff := NewHandoffListener(ln.Addr())
	fallback := h.Limits.Apply(&http.Server{
		Handler:  h.Fallback,
		ErrorLog: slog.NewLogLogger(h.Logger.Handler(), slog.LevelWarn),
	})
	go fallback.Serve(handoff)

	// The connections handed over drain beside the own ones, from the
	// moment the listener closes.
	var drainOnce sync.Once
	fallbackDone := make(chan struct{})
	startDrain := func() {
		h.Stopping.Store(true)
		go func() {
			defer close(fallbackDone)
			sctx, cancel := context.WithTimeout(context.Background(), h.ShutdownTimeout)
			defer cancel()
			fallback.Shutdown(sctx)
		}()
	}
	cs := ConnServer{
		Handle: func(nc net.Conn) { h.Handle(nc, handoff) },
		CloseIdle: func() {
			drainOnce.Do(startDrain)
			h.Conns.WakeIdle()
		},
		CloseAll: func() {
			h.Conns.CloseAll()
			fallback.Close()
		},
		ShutdownTimeout: h.ShutdownTimeout,
		Logger:          h.Logger,
	}
	err := cs.Serve(ctx, ln)
	drainOnce.Do(startDrain)
	<-fallbackDone
	handoff.Close()
	return err
}
