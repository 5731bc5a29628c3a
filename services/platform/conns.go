package platform

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Server is anything that serves a listener until ctx is cancelled, then
// stops accepting, lets what is in flight finish within its own shutdown
// bound, and returns nil (or returns the error that stopped it first).
// Service.AddServer runs one beside the HTTP listeners; ConnServer is one.
type Server interface {
	Serve(ctx context.Context, ln net.Listener) error
}

// ConnServer is the accept-and-drain loop of a server that is not
// net/http's (the lb's fast path and its TCP mode), with net/http's rules:
// every connection gets its own goroutine; an accept that fails for a
// passing reason (out of file descriptors) is retried after a pause that
// doubles from 5 ms up to 1 s; on shutdown the listener closes, idle
// connections are closed as they turn idle, and what is still open after
// ShutdownTimeout is closed.
type ConnServer struct {
	// Handle serves one connection until it ends.
	Handle func(net.Conn)
	// CloseIdle, when set, is called every few milliseconds while the
	// server drains, to close the connections that wait for a next
	// request (http.Server.Shutdown's closeIdleConns).
	CloseIdle func()
	// CloseAll closes every connection still open once ShutdownTimeout
	// has passed.
	CloseAll        func()
	ShutdownTimeout time.Duration
	Logger          *slog.Logger // nil: no log
}

// shutdownPoll is how often a draining server closes connections that
// turned idle (net/http polls as often, at most, as 500 ms).
const shutdownPoll = 20 * time.Millisecond

// Serve accepts on ln until ctx is cancelled, then drains. It returns nil
// after a shutdown, or, after the same drain, the error that stopped
// accepting.
func (cs *ConnServer) Serve(ctx context.Context, ln net.Listener) error {
	logger := cs.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var stopping atomic.Bool
	stopWatch := context.AfterFunc(ctx, func() {
		stopping.Store(true)
		ln.Close()
	})
	defer stopWatch()

	var conns sync.WaitGroup
	var serveErr error
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if stopping.Load() {
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Temporary() { //nolint:staticcheck // net/http's own test
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				logger.Warn("accept failed; retrying", "addr", ln.Addr().String(), "error", err.Error(), "in", backoff.String())
				time.Sleep(backoff)
				continue
			}
			serveErr = err
			ln.Close()
			break
		}
		backoff = 0
		conns.Go(func() { cs.Handle(conn) })
	}
	logger.Debug("listener closed; draining", "addr", ln.Addr().String())
	cs.drain(&conns, logger)
	return serveErr
}

// drain waits for the connections to end, closing idle ones as it goes,
// and closes the rest when ShutdownTimeout has passed.
func (cs *ConnServer) drain(conns *sync.WaitGroup, logger *slog.Logger) {
	done := make(chan struct{})
	go func() { conns.Wait(); close(done) }()
	timeout := time.NewTimer(cs.ShutdownTimeout)
	defer timeout.Stop()
	poll := time.NewTicker(shutdownPoll)
	defer poll.Stop()
	for {
		if cs.CloseIdle != nil {
			cs.CloseIdle()
		}
		select {
		case <-done:
			return
		case <-timeout.C:
			logger.Warn("shutdown timeout passed with connections open; closed them")
			if cs.CloseAll != nil {
				cs.CloseAll()
			}
			<-done
			return
		case <-poll.C:
		}
	}
}
