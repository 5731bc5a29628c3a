// Package l4 is the load balancer's TCP mode: it balances connections, not
// requests, over the same backends as the HTTP proxy. It never looks inside
// the bytes; it picks a backend when a client connects, optionally tells the
// backend who the client is (PROXY protocol), and then lets the kernel move
// the bytes: io.Copy between two *net.TCPConn values becomes splice(2) on
// Linux, so data goes socket to pipe to socket without entering user space.
package l4

import (
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/platform"
)

// Config is what a Server needs; LoadConfig reads the L4_* part of it from
// the environment and the caller fills in the rest.
type Config struct {
	ListenAddr string                     // L4_LISTEN_ADDR; "" means L4 mode is off
	Backends   func() []*balancer.Backend // the backends to use (health-filtered); called once per connection
	// Observe, when set, hears the outcome of every dial (failed: refused
	// or timed out), so that the passive health checks the HTTP proxy
	// feeds see L4 evidence too. It is called on the connection's path
	// and must be cheap.
	Observe         func(b *balancer.Backend, failed bool)
	Policy          Policy        // L4_POLICY
	ConnectTimeout  time.Duration // bound on one dial (LB_CONNECT_TIMEOUT)
	DialAttempts    int           // L4_DIAL_ATTEMPTS: backends tried per client connection
	IdleTimeout     time.Duration // L4_IDLE_TIMEOUT: close after this long with no byte either way; 0: never
	ProxyProtocol   ProxyProtocol // L4_PROXY_PROTOCOL
	ShutdownTimeout time.Duration // then let open connections finish this long (SHUTDOWN_TIMEOUT)
	Metrics         *Metrics
	Logger          *slog.Logger
}

// Server balances the connections accepted on one listener.
type Server struct {
	cfg    Config
	dialer net.Dialer
	// stamped selects the portable copy, which notes the time of every
	// read for the idle timeout, instead of splice and TCP_INFO (see
	// idleFor). Tests set it to cover both.
	stamped bool

	statesMu sync.RWMutex
	states   map[string]*backendState // by backend address

	mu      sync.Mutex
	conns   map[*conn]struct{}
	closing bool // set once the shutdown bound has passed: no new backend connections

}

// backendState is what the server knows about one backend: its open
// connections (for least_conn) and its metric series, looked up once.
type backendState struct {
	active        atomic.Int64
	gauge         prometheus.Gauge
	toBackend     prometheus.Counter
	toClient      prometheus.Counter
	dialFailures  prometheus.Counter
	connectionsBy func(result string) prometheus.Counter
}

// conn is one client connection and, once dialled, its backend connection.
type conn struct {
	client  *net.TCPConn
	backend atomic.Pointer[net.TCPConn]
	start   time.Time
	// lastActive (unix nanoseconds) is kept only by the portable copy.
	lastActive atomic.Int64
	// reason is why the connection ended, when something other than both
	// sides closing ended it; the first reason recorded wins.
	reason atomic.Pointer[string]
}

func (c *conn) end(reason string) { c.reason.CompareAndSwap(nil, &reason) }

func (c *conn) result() string {
	if r := c.reason.Load(); r != nil {
		return *r
	}
	return resultClosed
}

// closeBoth unblocks both copies at once.
func (c *conn) closeBoth() {
	c.client.Close()
	if b := c.backend.Load(); b != nil {
		b.Close()
	}
}

// New returns a server for cfg. Backends, Policy and Metrics are required.
func New(cfg Config) *Server {
	if cfg.DialAttempts < 1 {
		cfg.DialAttempts = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{
		cfg:     cfg,
		dialer:  net.Dialer{Timeout: cfg.ConnectTimeout},
		stamped: !tcpInfoSupported,
		states:  map[string]*backendState{},
		conns:   map[*conn]struct{}{},
	}
}

// Listen opens the TCP listener Serve takes.
func Listen(addr string) (*net.TCPListener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return ln.(*net.TCPListener), nil
}

// Serve accepts connections on ln, a TCP listener, until ctx is cancelled,
// then shuts down gracefully with the platform's accept-and-drain loop: it
// stops accepting, lets open connections finish for up to ShutdownTimeout
// and closes those still open. It returns nil after a shutdown, or the
// error that stopped accepting, after the same drain.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	// hard ends what is still open when the shutdown bound has passed;
	// it also aborts dials in progress.
	hard, stopHard := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHard()

	stopJanitor := make(chan struct{})
	var janitor sync.WaitGroup
	if s.cfg.IdleTimeout > 0 {
		janitor.Go(func() { s.janitor(stopJanitor) })
	}
	defer func() { close(stopJanitor); janitor.Wait() }()

	s.cfg.Logger.Info("l4 listening", "addr", ln.Addr().String(), "proxy_protocol", s.cfg.ProxyProtocol.String())
	cs := platform.ConnServer{
		Handle: func(c net.Conn) {
			// Splice needs the *net.TCPConn itself (see copySplice).
			if tc, ok := c.(*net.TCPConn); ok {
				s.handle(hard, tc)
				return
			}
			s.cfg.Logger.Warn("l4 accepted a connection that is not TCP; closed it", "from", c.RemoteAddr().String())
			c.Close()
		},
		CloseAll: func() {
			stopHard()
			s.closeAll()
		},
		ShutdownTimeout: s.cfg.ShutdownTimeout,
		Logger:          s.cfg.Logger,
	}
	err := cs.Serve(ctx, ln)
	s.cfg.Logger.Info("l4 stopped")
	return err
}

// closeAll ends every open connection and refuses to attach new backend
// connections from now on.
func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	for c := range s.conns {
		c.end(resultShutdown)
		c.closeBoth()
	}
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// attach records the backend connection, so that shutdown and the idle
// timeout can close it; it fails once shutdown has closed everything.
func (s *Server) attach(c *conn, backend *net.TCPConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	c.backend.Store(backend)
	return true
}

// handle serves one client connection from dial to close.
func (s *Server) handle(ctx context.Context, client *net.TCPConn) {
	c := &conn{client: client, start: time.Now()}
	c.lastActive.Store(c.start.UnixNano())
	if !s.track(c) {
		client.Close()
		return
	}
	var addr, result string
	// Logged last, once the connection is counted, released and untracked,
	// so that whoever reads the line (the tests wait on it) sees all that.
	defer func() {
		if s.cfg.Logger.Enabled(ctx, slog.LevelDebug) {
			s.cfg.Logger.Debug("l4 connection closed", "client", client.RemoteAddr().String(), "backend", addr,
				"result", result, "duration", time.Since(c.start).String())
		}
	}()
	defer s.untrack(c)

	backend, addr, st := s.dial(ctx, c)
	if backend == nil {
		client.Close()
		addr, result = "none", resultNoBackend
		if ctx.Err() != nil {
			result = resultShutdown // a dial aborted by the shutdown bound
		}
		s.cfg.Metrics.connections.WithLabelValues(addr, result).Inc()
		return
	}
	defer s.release(st)

	if s.cfg.ProxyProtocol != ProxyOff {
		var buf [108]byte // the spec bounds v1 at 107 bytes; v2 with IPv6 is 52
		hdr := s.cfg.ProxyProtocol.AppendHeader(buf[:0], client.RemoteAddr(), client.LocalAddr())
		if _, err := backend.Write(hdr); err != nil {
			c.end(resultError)
		}
	}
	if c.reason.Load() == nil {
		s.pipe(c, client, backend, st)
	}
	c.closeBoth()
	result = c.result()
	st.connectionsBy(result).Inc()
}

// dial opens a connection to a backend chosen by the policy. When a dial
// fails, the client is not failed with it: the next backend the policy
// picks among those not tried yet gets the connection, up to DialAttempts
// backends, so a dead backend costs the client a refused dial (or at worst
// ConnectTimeout), not its connection.
func (s *Server) dial(ctx context.Context, c *conn) (*net.TCPConn, string, *backendState) {
	candidates := s.cfg.Backends()
	for range min(s.cfg.DialAttempts, len(candidates)) {
		b := s.cfg.Policy.Pick(candidates, s.activeOf)
		if b == nil {
			break
		}
		// Counted as active from before the dial, so that concurrent
		// least_conn picks see connections that are still opening.
		st := s.acquire(b.Addr)
		nc, err := s.dialer.DialContext(ctx, "tcp", b.Addr)
		if err == nil {
			if s.cfg.Observe != nil {
				s.cfg.Observe(b, false)
			}
			backend := nc.(*net.TCPConn)
			if s.attach(c, backend) {
				return backend, b.Addr, st
			}
			backend.Close()
			s.release(st)
			return nil, "", nil
		}
		s.release(st)
		if ctx.Err() != nil {
			return nil, "", nil // shutting down: not the backend's fault
		}
		st.dialFailures.Inc()
		if s.cfg.Observe != nil {
			s.cfg.Observe(b, true)
		}
		s.cfg.Logger.Warn("l4 backend dial failed; trying the next one", "backend", b.Addr, "error", err.Error())
		// The next pick is among the backends not tried yet. The list
		// from Backends must not be modified, hence the copy.
		candidates = slices.DeleteFunc(slices.Clone(candidates), func(x *balancer.Backend) bool { return x == b })
	}
	return nil, "", nil
}

// pipe copies both ways until both are done. Each direction that ends with
// EOF passes the half-close on (CloseWrite sends FIN) and leaves the other
// direction running, so protocols that half-close (a client that sends its
// request, then shuts down writing, then reads the answer) work. An error
// in either direction (a reset) closes both sides at once.
func (s *Server) pipe(c *conn, client, backend *net.TCPConn, st *backendState) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.half(c, backend, client, st.toBackend)
	}()
	s.half(c, client, backend, st.toClient)
	<-done
}

func (s *Server) half(c *conn, dst, src *net.TCPConn, counter prometheus.Counter) {
	var err error
	if s.stamped {
		err = copyStamped(dst, src, counter, &c.lastActive)
	} else {
		err = copySplice(dst, src, counter)
	}
	if err == nil {
		dst.CloseWrite() // if dst is gone, the other direction finds out
		return
	}
	c.end(resultError)
	c.closeBoth()
}

// copyChunk is how many bytes copySplice moves before it adds them to the
// byte counter, so long connections show up in the metrics as they go, at
// the cost of one extra splice round per MiB.
const copyChunk = 1 << 20

// copySplice copies src to dst until EOF (returning nil) or an error. Both
// are *net.TCPConn, and io.CopyN hands dst.ReadFrom an *io.LimitedReader
// around src, which net's splice path accepts: on Linux the bytes never
// enter user space. Nothing here may wrap either connection in another
// type (a counting reader, a deadline-setting reader): io.Copy would then
// fall back to a user-space buffer.
func copySplice(dst, src *net.TCPConn, counter prometheus.Counter) error {
	for {
		n, err := io.CopyN(dst, src, copyChunk)
		if n > 0 {
			counter.Add(float64(n))
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyStamped is the portable copy, used where TCP_INFO is not available:
// a user-space loop that notes the time of every read, for the idle timeout.
func copyStamped(dst, src *net.TCPConn, counter prometheus.Counter, lastActive *atomic.Int64) error {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	for {
		n, err := src.Read(buf)
		if n > 0 {
			lastActive.Store(time.Now().UnixNano())
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
			counter.Add(float64(n))
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// janitor enforces the idle timeout. It does not set read deadlines: a
// deadline per read would need a read loop in user space, and splice has
// no reads to hang them on. Instead it looks at every connection a few
// times per IdleTimeout and asks the kernel how long ago the client socket
// last received or sent data (TCP_INFO's tcpi_last_data_recv and
// tcpi_last_data_sent). On the client socket those two cover both
// directions; keepalive probes carry no data and do not count. So an idle
// connection is closed between IdleTimeout and IdleTimeout plus one tick
// (a tenth of it) after its last byte, and a connection that trickles a
// byte a minute in either direction is never idle.
func (s *Server) janitor(stop <-chan struct{}) {
	every := min(max(s.cfg.IdleTimeout/10, 10*time.Millisecond), 30*time.Second)
	tick := time.NewTicker(every)
	defer tick.Stop()
	var snapshot []*conn
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		snapshot = snapshot[:0]
		s.mu.Lock()
		for c := range s.conns {
			snapshot = append(snapshot, c)
		}
		s.mu.Unlock()
		now := time.Now()
		for _, c := range snapshot {
			if idle, ok := s.idleFor(c, now); ok && idle >= s.cfg.IdleTimeout {
				c.end(resultIdle)
				c.closeBoth()
			}
		}
		clear(snapshot) // drop references to finished connections
		s.pruneStates()
	}
}

// idleFor reports how long c has moved no data. It is never longer than
// the connection's age, so a connection that has not yet sent a byte is
// idle since it was accepted.
func (s *Server) idleFor(c *conn, now time.Time) (time.Duration, bool) {
	age := now.Sub(c.start)
	if s.stamped {
		return min(age, now.Sub(time.Unix(0, c.lastActive.Load()))), true
	}
	idle, ok := tcpIdle(c.client)
	return min(age, idle), ok
}

func (s *Server) activeOf(b *balancer.Backend) int64 {
	s.statesMu.RLock()
	st := s.states[b.Addr]
	s.statesMu.RUnlock()
	if st == nil {
		return 0
	}
	return st.active.Load()
}

// acquire counts a connection to addr as active and returns its state.
// It counts under the lock, so pruneStates never drops a state that a
// connection is about to use.
func (s *Server) acquire(addr string) *backendState {
	s.statesMu.Lock()
	defer s.statesMu.Unlock()
	st := s.states[addr]
	if st == nil {
		m := s.cfg.Metrics
		st = &backendState{
			gauge:        m.active.WithLabelValues(addr),
			toBackend:    m.bytes.WithLabelValues(addr, "to_backend"),
			toClient:     m.bytes.WithLabelValues(addr, "to_client"),
			dialFailures: m.dialFailures.WithLabelValues(addr),
			connectionsBy: func(result string) prometheus.Counter {
				return m.connections.WithLabelValues(addr, result)
			},
		}
		s.states[addr] = st
	}
	st.active.Add(1)
	st.gauge.Inc()
	return st
}

func (s *Server) release(st *backendState) {
	st.active.Add(-1)
	st.gauge.Dec()
}

// pruneStates forgets backends that discovery no longer lists and that
// have no connection left, so the map does not grow with every replica
// that ever existed. Their metric series stay: counters must not reset.
func (s *Server) pruneStates() {
	current := s.cfg.Backends()
	s.statesMu.Lock()
	defer s.statesMu.Unlock()
	for addr, st := range s.states {
		if st.active.Load() == 0 && !slices.ContainsFunc(current, func(b *balancer.Backend) bool { return b.Addr == addr }) {
			delete(s.states, addr)
		}
	}
}

// ActiveConns returns the open connections per backend address.
func (s *Server) ActiveConns() map[string]int64 {
	s.statesMu.RLock()
	defer s.statesMu.RUnlock()
	out := make(map[string]int64, len(s.states))
	for addr, st := range s.states {
		out[addr] = st.active.Load()
	}
	return out
}
