package routing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/lb/internal/discovery"
	"scalelab/services/lb/internal/forward"
	"scalelab/services/lb/internal/health"
	"scalelab/services/lb/internal/proxy"
)

// Deps is what every pool shares: one transport (so connections to a
// backend in two pools are pooled once), one set of metrics, and the
// lb-wide health, retry and timeout settings.
type Deps struct {
	Transport     http.RoundTripper
	ProxyMetrics  *forward.Metrics
	HealthMetrics *health.Metrics
	Health        health.Config
	Proxy         forward.Config
	Lookup        discovery.LookupFunc
	DNSRefresh    time.Duration
	Logger        *slog.Logger
}

// Pool is one running pool: its backends, their health, its policy and
// its request handler.
type Pool struct {
	Name    string
	Spec    PoolSpec
	Tracker *health.Tracker
	Handler http.Handler

	// Shared by the Pools a reload makes of one pool whose definition
	// changed: its backends, their health, its goroutines.
	set  *discovery.Set
	stop context.CancelFunc
	done *sync.WaitGroup
}

// plan is a pool of the file, parsed: building it cannot fail.
type plan struct {
	spec    PoolSpec
	targets []discovery.Target
	policy  balancer.Policy
}

func planPool(spec PoolSpec) (plan, error) {
	targets, err := discovery.ParseTargets(spec.Backends)
	if err != nil {
		return plan{}, err
	}
	policy, err := spec.NewPolicy()
	if err != nil {
		return plan{}, err
	}
	return plan{spec, targets, policy}, nil
}

// startPool builds a pool and starts its discovery and health checks,
// which run until the pool is retired.
func startPool(ctx context.Context, d Deps, name string, pl plan) *Pool {
	logger := d.Logger.With("pool", name)
	p := &Pool{Name: name, Spec: pl.spec, done: &sync.WaitGroup{}}
	p.set = discovery.NewSet(pl.targets, d.Lookup, logger)
	p.Tracker = health.New(d.Health, d.Transport, d.HealthMetrics, logger)
	// Metrics first: a backend's series exist before the tracker offers it.
	p.set.Watch(d.ProxyMetrics.Track)
	p.set.Watch(p.Tracker.Update)
	p.set.Refresh(ctx)
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	p.stop = stop
	every := d.DNSRefresh
	if every <= 0 {
		every = 2 * time.Second
	}
	p.done.Go(func() { p.set.Run(runCtx, every) })
	p.done.Go(func() { p.Tracker.Run(runCtx) })
	p.Handler = proxy.New(p.Tracker, pl.policy, d.Transport, d.ProxyMetrics, logger, d.Proxy)
	return p
}

// redefine returns the pool p becomes under a changed definition: the same
// set and tracker, so the backends that stay keep their health, ejections
// and drains; the new targets; a new handler with the new policy.
func (p *Pool) redefine(ctx context.Context, d Deps, pl plan) *Pool {
	np := &Pool{Name: p.Name, Spec: pl.spec, Tracker: p.Tracker, set: p.set, stop: p.stop, done: p.done}
	p.set.SetTargets(pl.targets)
	p.set.Refresh(ctx) // resolve dns:// targets new to the pool now
	np.Handler = proxy.New(p.Tracker, pl.policy, d.Transport, d.ProxyMetrics, d.Logger.With("pool", p.Name), d.Proxy)
	return np
}

// retire stops the pool's discovery and checks, and its series. Requests
// already in its handler finish: nothing they hold is closed.
func (p *Pool) retire(d Deps) {
	p.stop()
	p.done.Wait()
	d.ProxyMetrics.Track(nil, nil, p.set.Backends())
	p.Tracker.Update(nil, nil, p.set.Backends())
	d.HealthMetrics.Detach(p.Tracker)
}

// table is one routing table, immutable once published.
type table struct {
	pools  map[string]*Pool
	routes []route // most specific first
}

type route struct {
	host   string // lower case; "" for any
	prefix string
	pool   *Pool
}

// match returns the pool for a request: routes naming its host before
// those for any host, then the longest prefix. nil: no route matches.
func (t *table) match(host, path string) *Pool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	for _, r := range t.routes {
		if (r.host == "" || r.host == host) && prefixMatches(r.prefix, path) {
			return r.pool
		}
	}
	return nil
}

func prefixMatches(prefix, path string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || strings.HasSuffix(prefix, "/") || path[len(prefix)] == '/'
}

func sortRoutes(rs []route) {
	slices.SortStableFunc(rs, func(a, b route) int {
		if (a.host == "") != (b.host == "") {
			if a.host != "" {
				return -1
			}
			return 1
		}
		return len(b.prefix) - len(a.prefix)
	})
}

// Router serves requests through the current table and reloads it.
type Router struct {
	deps    Deps
	path    string
	reloads *prometheus.CounterVec

	mu      sync.Mutex // serializes reloads
	ctx     context.Context
	current atomic.Pointer[table]
	modTime time.Time
	size    int64
}

// New loads the routes file at path and starts its pools; an error here
// is a configuration error (the lb does not start).
func New(ctx context.Context, path string, d Deps, reg prometheus.Registerer) (*Router, error) {
	r := &Router{deps: d, path: path, ctx: ctx,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scalelab_lb_config_reloads_total",
			Help: "Reloads of LB_ROUTES_FILE, by result: success, or failure (the running table stays).",
		}, []string{"result"}),
	}
	reg.MustRegister(r.reloads)
	r.reloads.WithLabelValues("success")
	r.reloads.WithLabelValues("failure")
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the file again and swaps the new table in; on any error
// the running table stays, and the error is logged and counted.
func (r *Router) Reload(why string) error {
	err := r.load()
	if err != nil {
		r.reloads.WithLabelValues("failure").Inc()
		r.deps.Logger.Error("routes not reloaded; the running table stays", "file", r.path, "why", why, "error", err.Error())
		return err
	}
	r.reloads.WithLabelValues("success").Inc()
	r.deps.Logger.Info("routes reloaded", "file", r.path, "why", why)
	return nil
}

func (r *Router) load() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	fi, err := os.Stat(r.path)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(r.path)
	if err != nil {
		return err
	}
	r.modTime, r.size = fi.ModTime(), fi.Size()
	cfg, err := Parse(data)
	if err != nil {
		return err
	}
	// Everything that can fail first, so a failure changes nothing.
	plans := map[string]plan{}
	for name, spec := range cfg.Pools {
		pl, err := planPool(spec)
		if err != nil {
			return fmt.Errorf("pool %q: %w", name, err)
		}
		plans[name] = pl
	}
	old := r.current.Load()
	next := &table{pools: map[string]*Pool{}}
	for name, pl := range plans {
		var prev *Pool
		if old != nil {
			prev = old.pools[name]
		}
		switch {
		case prev != nil && prev.Spec == pl.spec:
			next.pools[name] = prev // unchanged
		case prev != nil:
			next.pools[name] = prev.redefine(r.ctx, r.deps, pl)
		default:
			next.pools[name] = startPool(r.ctx, r.deps, name, pl)
		}
	}
	for _, rt := range cfg.Routes {
		next.routes = append(next.routes, route{host: normalHost(rt.Host), prefix: rt.Prefix, pool: next.pools[rt.Pool]})
	}
	sortRoutes(next.routes)
	r.current.Store(next)
	if old != nil {
		for name, p := range old.pools {
			if np := next.pools[name]; np == nil || np.set != p.set {
				p.retire(r.deps)
			}
		}
	}
	return nil
}

// Watch reloads when the file's modification time or size changes,
// checking every interval, until ctx ends.
func (r *Router) Watch(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		fi, err := os.Stat(r.path)
		r.mu.Lock()
		changed := err == nil && (!fi.ModTime().Equal(r.modTime) || fi.Size() != r.size)
		r.mu.Unlock()
		if changed {
			r.Reload("file changed")
		}
	}
}

// Stop retires every pool (the lb is exiting).
func (r *Router) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t := r.current.Load(); t != nil {
		for _, p := range t.pools {
			p.stop()
			p.done.Wait()
		}
	}
}

// ServeHTTP hands the request to its route's pool.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	p := r.current.Load().match(req.Host, req.URL.Path)
	if p == nil {
		http.Error(w, fmt.Sprintf("404 Not Found: no route in LB_ROUTES_FILE for host %q and this path", req.Host), http.StatusNotFound)
		return
	}
	p.Handler.ServeHTTP(w, req)
}

// Pools returns the current pools, by name.
func (r *Router) Pools() []*Pool {
	t := r.current.Load()
	out := make([]*Pool, 0, len(t.pools))
	for _, p := range t.pools {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *Pool) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Ready reports an error unless some pool has a healthy backend.
func (r *Router) Ready(ctx context.Context) error {
	var errs []error
	for _, p := range r.Pools() {
		err := p.Tracker.Ready(ctx)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("pool %s: %w", p.Name, err))
	}
	return errors.Join(errs...)
}

// Default is the pool of the catch-all route (any host, prefix /), or
// else the first pool by name: what L4 mode, which sees no host or
// path, balances over.
func (r *Router) Default() *Pool {
	for _, rt := range r.current.Load().routes {
		if rt.host == "" && rt.prefix == "/" {
			return rt.pool
		}
	}
	return r.Pools()[0]
}

// Available returns the default pool's available backends (for L4).
func (r *Router) Available() []*balancer.Backend { return r.Default().Tracker.Available() }

// Observe reports an L4 dial outcome to the default pool.
func (r *Router) Observe(b *balancer.Backend, failed bool) { r.Default().Tracker.Observe(b, failed) }

// Metrics returns the request metrics every pool shares.
func (r *Router) Metrics() *forward.Metrics { return r.deps.ProxyMetrics }
