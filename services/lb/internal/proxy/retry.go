package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/lb/internal/forward"
)

// roundTripper is the ReverseProxy's transport: it runs the tries of one
// request, and returns the first answer worth giving the client.
type roundTripper struct{ h *Handler }

// RoundTrip tries a.backend, then, for a request that may be retried,
// other backends, after a connection failure, a timeout, or a 502 or 503.
func (rt roundTripper) RoundTrip(out *http.Request) (*http.Response, error) {
	h := rt.h
	a := attemptFrom(out.Context())
	deadline := a.start.Add(h.cfg.RequestTimeout)
	idempotent := forward.Idempotent(out.Method, out.Header.Get("Idempotency-Key") != "")
	var body *replayBody
	if h.cfg.Retries > 0 && out.Body != nil && out.Body != http.NoBody {
		body = &replayBody{rc: out.Body}
		out.Body = body
	}
	var tried []*balancer.Backend
	for {
		b := a.backend
		a.tries++
		resp, timeout, err := h.try(out, b, a, deadline)
		clientGone := out.Context().Err() != nil && !timeout
		if a.body.failure() != nil {
			// The client's body failed (too large, too slow, cut off):
			// neither the backend's fault nor worth another try.
			return resp, err
		}
		var full *forward.AtLimitError
		atLimit := errors.As(err, &full) // not tried: says nothing of its health
		failed := !clientGone && (err != nil || resp.StatusCode >= 500)
		if !clientGone && !atLimit {
			h.pool.Observe(b, failed)
		}
		// A request that may not be sent twice may still go elsewhere when
		// it was not sent once: its dial failed (a replica starting or
		// stopping), as nginx and HAProxy retry a connection failure.
		unsent := atLimit || (err != nil && isDial(err))
		if !failed || h.cfg.Retries == 0 || !(idempotent || unsent) || a.tries > h.cfg.Retries || !time.Now().Before(deadline) {
			return resp, err
		}
		if resp != nil && !forward.RetryStatus(resp.StatusCode) {
			return resp, err // a 500 or 504 is the backend's answer to this request, not a sign to go elsewhere
		}
		if body != nil && (err == nil || !(isDial(err) || atLimit) || body.touched()) {
			// Some of the body may have been sent: it is gone, and cannot
			// be sent again. Only a dial that failed surely sent nothing.
			return resp, err
		}
		tried = append(tried, b)
		next := h.picker.Retry(out, h.pool.Available(), tried)
		if next == nil {
			return resp, err
		}
		if !atLimit {
			h.metrics.ObserveRetry(b)
		}
		if resp != nil {
			// Read a little, so the connection can be reused; a big error
			// page is not worth it.
			io.CopyN(io.Discard, resp.Body, 4<<10)
			resp.Body.Close()
		}
		h.logger.Debug("retrying on another backend", "failed", b.Addr, "next", next.Addr, "tries", a.tries)
		a.backend = next
	}
}

// isDial reports whether err happened while connecting: no byte of the
// request was sent.
func isDial(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// try sends out to b. Its timeout covers connecting and waiting for the
// response headers, and ends at the request's deadline at the latest;
// once headers have come, the body streams for as long as it takes.
func (h *Handler) try(out *http.Request, b *balancer.Backend, a *attempt, deadline time.Time) (resp *http.Response, timedOut bool, err error) {
	limit, wait := h.tryLimit, h.cfg.TryTimeout
	if left := time.Until(deadline); left < wait {
		limit, wait = h.requestLimit, left
	}
	ctx, cancel := context.WithCancelCause(out.Context())
	timer := time.AfterFunc(wait, func() { cancel(limit) })
	req := out.WithContext(ctx)
	if req.URL.Host != b.URL.Host {
		// A retry. The previous try's request may still be read by the
		// transport, so this one gets its own URL rather than a changed one.
		u := *req.URL
		u.Scheme, u.Host = b.URL.Scheme, b.URL.Host
		req.URL = &u
	}
	m := h.metrics.Of(b)
	if !b.TryAcquire(h.cfg.MaxRequestsPerBackend) {
		// Full since it was picked (concurrent requests took the room).
		cancel(nil)
		timer.Stop()
		return nil, false, &forward.AtLimitError{Addr: b.Addr, Limit: h.cfg.MaxRequestsPerBackend}
	}
	start := time.Now()
	resp, err = h.transport.RoundTrip(req)
	timedOut = !timer.Stop()
	if timedOut {
		// Headers came as the timer fired, or not at all: either way the
		// try took too long, and its context is being cancelled.
		if resp != nil {
			resp.Body.Close()
			resp = nil
		}
		err = limit
	}
	if err != nil {
		cancel(nil)
		b.Release()
		elapsed := time.Since(start)
		a.inBackend.Add(int64(elapsed))
		status := http.StatusBadGateway
		cerr := a.body.failure()
		switch {
		case cerr != nil: // the client's body failed, not the backend
			status, _ = h.cfg.BodyFault(cerr)
		case timedOut || forward.IsTimeout(err):
			status = http.StatusGatewayTimeout
		case out.Context().Err() != nil:
			status = 499
		}
		m.ObserveStatus(status)
		m.ObserveDuration(elapsed)
		return nil, timedOut, err
	}
	m.ObserveStatus(resp.StatusCode)
	tb := &tryBody{rc: resp.Body, b: b, m: m, a: a, start: start, cancel: cancel}
	if rw, ok := resp.Body.(io.ReadWriteCloser); ok && resp.StatusCode == http.StatusSwitchingProtocols {
		// An upgraded connection (WebSocket): ReverseProxy needs to write
		// to it as well as read.
		resp.Body = &tryConn{tryBody: tb, w: rw}
	} else {
		resp.Body = tb
	}
	return resp, false, nil
}

// tryBody ends a try when its body is closed: the backend's in-flight count
// drops, the try's context is released, its duration recorded.
type tryBody struct {
	rc     io.ReadCloser
	b      *balancer.Backend
	m      *forward.BackendMetrics
	a      *attempt
	start  time.Time
	cancel context.CancelCauseFunc
	once   sync.Once
}

func (t *tryBody) Read(p []byte) (int, error) { return t.rc.Read(p) }

func (t *tryBody) Close() error {
	err := t.rc.Close()
	t.once.Do(func() {
		elapsed := time.Since(t.start)
		t.a.inBackend.Add(int64(elapsed))
		t.m.ObserveDuration(elapsed)
		t.b.Release()
		t.cancel(nil)
	})
	return err
}

type tryConn struct {
	*tryBody
	w io.Writer
}

func (t *tryConn) Write(p []byte) (int, error) { return t.w.Write(p) }

// replayBody lets a request body be sent again when the transport never
// began to read it. Close does nothing: the server closes the client's
// body when the handler returns, and closing it after a failed try would
// leave nothing for the next.
type replayBody struct {
	rc   io.ReadCloser
	read atomic.Bool
}

func (r *replayBody) Read(p []byte) (int, error) {
	r.read.Store(true)
	return r.rc.Read(p)
}

func (r *replayBody) Close() error { return nil }

func (r *replayBody) touched() bool { return r.read.Load() }
