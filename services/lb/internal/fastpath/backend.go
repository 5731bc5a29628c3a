package fastpath

import (
	"net"
	"sync"
	"time"

	"scalelab/services/lb/internal/balancer"
)

// Keep-alive pool limits, as the net/http transport of the std engine has
// them (proxy.NewTransport).
const (
	maxIdlePerBackend = 256
	// backendIdleTimeout is shorter than the backends' own idle timeout
	// (90 s, set by the platform): the side that sends requests gives up an
	// idle connection before the server closes it under a request.
	backendIdleTimeout = 60 * time.Second
)

// backendConn is one keep-alive connection to a backend.
type backendConn struct {
	b        *balancer.Backend
	conn     net.Conn
	rd       connReader
	out      outBuf
	reused   bool      // served a request before this one
	idleAt   time.Time // when it was last put back
	deadline bool      // a read deadline is set
}

// pool keeps idle connections per backend, most recently used first (a
// stack: warm connections stay warm, and the surplus ages out).
type pool struct {
	mu     sync.Mutex
	idle   map[*balancer.Backend][]*backendConn
	closed bool
}

func newPool() *pool { return &pool{idle: map[*balancer.Backend][]*backendConn{}} }

// get returns an idle connection to b, or nil.
func (p *pool) get(b *balancer.Backend, now time.Time) *backendConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		s := p.idle[b]
		if len(s) == 0 {
			return nil
		}
		bc := s[len(s)-1]
		s[len(s)-1] = nil
		p.idle[b] = s[:len(s)-1]
		if now.Sub(bc.idleAt) < backendIdleTimeout {
			return bc
		}
		bc.conn.Close() // the older ones below are older still; they go on later gets or the sweep
	}
}

// put keeps bc for another request, unless the pool is full or closed.
func (p *pool) put(bc *backendConn, now time.Time) {
	bc.idleAt = now
	bc.reused = true
	p.mu.Lock()
	if !p.closed && len(p.idle[bc.b]) < maxIdlePerBackend {
		p.idle[bc.b] = append(p.idle[bc.b], bc)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	bc.conn.Close()
}

// sweep closes connections idle for too long, and those of backends
// discovery no longer lists.
func (p *pool) sweep(now time.Time, known func(*balancer.Backend) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for b, s := range p.idle {
		keep := s[:0]
		for _, bc := range s {
			if now.Sub(bc.idleAt) < backendIdleTimeout && known(b) {
				keep = append(keep, bc)
			} else {
				bc.conn.Close()
			}
		}
		clear(s[len(keep):])
		if len(keep) == 0 {
			delete(p.idle, b)
		} else {
			p.idle[b] = keep
		}
	}
}

// close closes every idle connection, and those put back from now on.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for b, s := range p.idle {
		for _, bc := range s {
			bc.conn.Close()
		}
		delete(p.idle, b)
	}
}
