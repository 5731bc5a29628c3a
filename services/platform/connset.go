package platform

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ConnSet holds the client connections a hand-written engine (the lb's
// fast path, the edge's hit path) is serving, so that a drain can wake the
// idle ones and a missed shutdown deadline can close the rest. net/http
// keeps the same bookkeeping inside http.Server; these engines are not
// http.Servers. The zero value is ready to use.
type ConnSet struct {
	mu    sync.Mutex
	conns map[net.Conn]*atomic.Bool
}

// Add records c; idle is true while c waits for its next request.
func (s *ConnSet) Add(c net.Conn, idle *atomic.Bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		s.conns = map[net.Conn]*atomic.Bool{}
	}
	s.conns[c] = idle
}

// Remove forgets c.
func (s *ConnSet) Remove(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// WakeIdle makes every connection waiting for a next request stop waiting,
// so that it sees the server draining and closes. (Repeated until they are
// gone: a connection may set its own deadline just after.)
func (s *ConnSet) WakeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c, idle := range s.conns {
		if idle.Load() {
			c.SetReadDeadline(time.Unix(1, 0))
		}
	}
}

// CloseAll closes every connection still held.
func (s *ConnSet) CloseAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}
