// Package platform holds what every scalelab service shares: the run loop
// with graceful shutdown, typed environment configuration, JSON logging with
// request ids, the admin listener and HTTP metrics.
package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// RunFunc is the signature of every service's run function: main only calls
// it, tests call it directly with their own environment and writers.
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// Main runs a service as a process: SIGINT or SIGTERM cancel its context,
// and an error exits 1 after one line on stderr. `<binary> healthcheck`
// probes the admin /readyz of the service on this host instead: images built
// FROM scratch have no curl, so each binary is its own HEALTHCHECK.
func Main(run RunFunc) {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		if err := Healthcheck(os.Getenv); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// Base is the configuration every service shares.
type Base struct {
	ListenAddr      string        // LISTEN_ADDR: traffic
	AdminAddr       string        // ADMIN_ADDR: /metrics /healthz /readyz /debug/pprof
	LogLevel        slog.Level    // LOG_LEVEL
	ShutdownTimeout time.Duration // SHUTDOWN_TIMEOUT: bound on finishing in-flight requests
	DrainDelay      time.Duration // DRAIN_DELAY: time /readyz reports 503 before listeners close
}

// LoadBase reads the shared variables.
func LoadBase(env *Env, defListen string) Base {
	return Base{
		ListenAddr:      env.Addr("LISTEN_ADDR", defListen),
		AdminAddr:       env.Addr("ADMIN_ADDR", ":9100"),
		LogLevel:        env.LogLevel("LOG_LEVEL", slog.LevelInfo),
		ShutdownTimeout: env.Duration("SHUTDOWN_TIMEOUT", 10*time.Second, 0, 10*time.Minute),
		DrainDelay:      env.Duration("DRAIN_DELAY", 0, 0, time.Minute),
	}
}

// Service is one running scalelab process.
type Service struct {
	Name     string
	Base     Base
	Logger   *slog.Logger
	Registry *prometheus.Registry
	HTTP     *HTTPMetrics

	draining atomic.Bool
	mu       sync.Mutex
	checks   []readyCheck
	admin    []adminRoute
	servers  []addedServer
}

type addedServer struct {
	name string
	ln   net.Listener
	srv  Server
}

type adminRoute struct {
	pattern string
	handler http.Handler
}

type readyCheck struct {
	name  string
	check func(context.Context) error
}

// New builds a service that logs JSON to stdout and owns a fresh registry
// with Go runtime and process metrics.
func New(name string, base Base, stdout io.Writer) *Service {
	logger := NewLogger(stdout, base.LogLevel, name)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Service{Name: name, Base: base, Logger: logger, Registry: reg, HTTP: NewHTTPMetrics(reg, name, logger)}
}

// AddReadyCheck adds a dependency that /readyz verifies on every call.
func (s *Service) AddReadyCheck(name string, check func(context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, readyCheck{name, check})
}

// HandleAdmin adds a handler to the admin listener, beside /metrics,
// /healthz, /readyz and /debug/pprof (a pattern naming one of those panics,
// as http.ServeMux does for any conflict). Call it before Run: the admin mux
// is built when Run starts. Admin handlers get no request metrics and no
// authentication: a handler that changes state checks its own credentials.
func (s *Service) HandleAdmin(pattern string, handler http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.admin = append(s.admin, adminRoute{pattern, handler})
}

// AddServer has Run serve srv on ln beside the traffic and admin
// listeners, under the same drain: when shutdown begins, /readyz turns 503
// and, DRAIN_DELAY later, srv's context is cancelled as the traffic
// listener closes; Run waits for srv to return. If srv stops on an error,
// the service drains and Run returns that error, named by name. Call it
// before Run; Run closes ln if it fails to start.
func (s *Service) AddServer(name string, ln net.Listener, srv Server) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.servers = append(s.servers, addedServer{name, ln, srv})
}

// Draining reports whether shutdown has begun.
func (s *Service) Draining() bool { return s.draining.Load() }

// Run serves handler on the traffic listener, the admin endpoints on the
// admin listener and every server AddServer added on its own, until ctx is
// cancelled or one of them fails, then drains: /readyz turns 503,
// DRAIN_DELAY passes so load balancers notice, the listeners close and
// in-flight requests get SHUTDOWN_TIMEOUT to finish. With a nil handler
// there is no traffic listener (an added server serves LISTEN_ADDR).
func (s *Service) Run(ctx context.Context, handler http.Handler) error {
	s.mu.Lock()
	servers := s.servers
	s.mu.Unlock()
	trafficLn, adminLn, err := s.listen(handler != nil)
	if err != nil {
		for _, a := range servers {
			a.ln.Close()
		}
		return err
	}
	errorLog := slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn)
	limits := DefaultLimits()
	traffic := limits.Apply(&http.Server{Handler: s.TrafficHandler(handler), ErrorLog: errorLog})
	admin := &http.Server{Handler: s.adminMux(), ReadHeaderTimeout: limits.HeaderTimeout, ErrorLog: errorLog}

	errc := make(chan error, 2)
	if trafficLn != nil {
		go func() { errc <- traffic.Serve(trafficLn) }()
		s.Logger.Info("listening", "traffic", trafficLn.Addr().String(), "admin", adminLn.Addr().String())
	} else {
		s.Logger.Info("listening", "admin", adminLn.Addr().String())
	}
	go func() { errc <- admin.Serve(adminLn) }()
	added := s.startAdded(servers)

	select {
	case err := <-errc:
		traffic.Close()
		admin.Close()
		return errors.Join(fmt.Errorf("server stopped: %w", err), added.stop())
	case <-added.failed:
	case <-ctx.Done():
	}
	err = s.drain(traffic, added)
	admin.Close()
	return err
}

// listen opens the admin listener, and the traffic listener when there is
// a handler for it.
func (s *Service) listen(withTraffic bool) (traffic, admin net.Listener, err error) {
	if withTraffic {
		if traffic, err = net.Listen("tcp", s.Base.ListenAddr); err != nil {
			return nil, nil, fmt.Errorf("LISTEN_ADDR: %w", err)
		}
	}
	if admin, err = net.Listen("tcp", s.Base.AdminAddr); err != nil {
		if traffic != nil {
			traffic.Close()
		}
		return nil, nil, fmt.Errorf("ADMIN_ADDR: %w", err)
	}
	return traffic, admin, nil
}

// drain turns /readyz 503, waits DRAIN_DELAY, then stops the traffic
// server and the added ones together, giving what is in flight
// SHUTDOWN_TIMEOUT.
func (s *Service) drain(traffic *http.Server, added running) error {
	s.draining.Store(true)
	s.Logger.Info("draining", "drain_delay", s.Base.DrainDelay.String(), "shutdown_timeout", s.Base.ShutdownTimeout.String())
	time.Sleep(s.Base.DrainDelay)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.Base.ShutdownTimeout)
	defer cancel()
	addedDone := make(chan error, 1)
	go func() { addedDone <- added.stop() }()
	err := traffic.Shutdown(shutdownCtx)
	addedErr := <-addedDone
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return errors.Join(fmt.Errorf("shutdown: %w", err), addedErr)
	}
	if err != nil {
		s.Logger.Warn("shutdown timeout passed with requests in flight; closed them")
		traffic.Close()
	}
	s.Logger.Info("stopped")
	return addedErr
}

// running are the servers AddServer added, once started.
type running struct {
	stop   func() error  // cancels their context, waits, returns their errors
	failed chan struct{} // closed when one stops on an error before stop
}

func (s *Service) startAdded(servers []addedServer) running {
	ctx, cancel := context.WithCancel(context.Background())
	failed := make(chan struct{})
	var once sync.Once
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, a := range servers {
		wg.Go(func() {
			err := a.srv.Serve(ctx, a.ln)
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", a.name, err)
				if ctx.Err() == nil {
					s.Logger.Error(a.name+" failed; stopping", "error", err.Error())
					once.Do(func() { close(failed) })
				}
			}
		})
	}
	return running{
		stop: func() error {
			cancel()
			wg.Wait()
			return errors.Join(errs...)
		},
		failed: failed,
	}
}

func (s *Service) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.Logger.Handler(), slog.LevelError)}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.admin {
		mux.Handle(r.pattern, r.handler)
	}
	return mux
}

// runChecks runs every ready check at once and returns each one's error
// (nil when it passed), by name.
func (s *Service) runChecks(ctx context.Context) map[string]error {
	s.mu.Lock()
	checks := append([]readyCheck(nil), s.checks...)
	s.mu.Unlock()
	type result struct {
		name string
		err  error
	}
	out := make(chan result, len(checks))
	for _, c := range checks {
		go func() { out <- result{c.name, c.check(ctx)} }()
	}
	errs := make(map[string]error, len(checks))
	for range checks {
		res := <-out
		errs[res.name] = res.err
	}
	return errs
}

// readyz answers 200 when not draining and every dependency check passes,
// 503 otherwise, with a JSON body saying which check failed and why.
func (s *Service) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status := "ready"
	errs := s.runChecks(ctx)
	results := make(map[string]string, len(errs))
	for name, err := range errs {
		if err != nil {
			status = "unready"
			results[name] = err.Error()
		} else {
			results[name] = "ok"
		}
	}
	if s.draining.Load() {
		status = "draining"
	}
	code := http.StatusOK
	if status != "ready" {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"status": status, "checks": results})
}

// Healthcheck probes the admin /readyz of the service on this host, at
// ADMIN_ADDR (loopback when it names every interface).
func Healthcheck(getenv func(string) string) error {
	env := NewEnv(getenv)
	addr := env.Addr("ADMIN_ADDR", ":9100")
	if err := env.Err(); err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort(host, port) + "/readyz")
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s: %s", resp.Status, body)
	}
	return nil
}
