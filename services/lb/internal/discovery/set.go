package discovery

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"scalelab/services/lb/internal/balancer"
)

// LookupFunc resolves a host name to addresses, like
// net.DefaultResolver.LookupHost; tests inject their own.
type LookupFunc func(ctx context.Context, host string) ([]string, error)

// lookupTimeout bounds one resolution, so that a resolver that never answers
// delays a refresh instead of stopping discovery for good.
const lookupTimeout = 5 * time.Second

// Set is the current list of backends. Readers (every proxied request) get
// an immutable slice through an atomic pointer and never take a lock;
// only refreshes, which are rare, build a new slice and swap it in.
type Set struct {
	targets []Target
	lookup  LookupFunc
	logger  *slog.Logger

	current atomic.Pointer[[]*balancer.Backend]

	mu       sync.Mutex            // serializes refreshes; guards what follows
	resolved [][]*balancer.Backend // per target: last good resolution
	lastErr  []string              // per target: last lookup error, to log changes only
	known    map[string]*balancer.Backend
	watchers []WatchFunc
}

// WatchFunc learns of backends added to and removed from the set, with
// the whole list as it is about to be published.
type WatchFunc func(current, added, removed []*balancer.Backend)

// NewSet returns a set holding the static targets at once; dns:// targets
// contribute backends after the first Refresh.
func NewSet(targets []Target, lookup LookupFunc, logger *slog.Logger) *Set {
	s := &Set{
		targets:  targets,
		lookup:   lookup,
		logger:   logger,
		resolved: make([][]*balancer.Backend, len(targets)),
		lastErr:  make([]string, len(targets)),
		known:    map[string]*balancer.Backend{},
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, t := range targets {
		if !t.IsDNS() {
			s.resolved[i] = []*balancer.Backend{s.backend(t.Static, t.Weight)}
		}
	}
	s.publishLocked()
	return s
}

// Backends returns the current backends in a stable order: targets in the
// order of LB_BACKENDS, a name's addresses sorted. The caller must not
// modify the slice.
func (s *Set) Backends() []*balancer.Backend {
	if p := s.current.Load(); p != nil {
		return *p
	}
	return nil
}

// Run refreshes every interval until ctx is done. It runs even for a set
// with no dns:// target, whose refresh costs nothing: a reload
// (SetTargets) may give it some.
func (s *Set) Run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.Refresh(ctx)
		}
	}
}

// Refresh resolves every dns:// target once and publishes the result.
//
// A failed lookup keeps that name's last good addresses: a DNS hiccup
// should not take healthy replicas out of rotation. Replicas that are gone
// disappear when a lookup succeeds without them.
func (s *Set) Refresh(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.ContainsFunc(s.targets, Target.IsDNS) {
		return // static targets were published when they were set
	}
	for i, t := range s.targets {
		if !t.IsDNS() {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		addrs, err := s.lookup(lctx, t.Name)
		cancel()
		if err != nil {
			if msg := err.Error(); msg != s.lastErr[i] {
				s.lastErr[i] = msg
				s.logger.Warn("dns lookup failed; keeping last known backends",
					"target", t.Raw, "error", msg, "kept", len(s.resolved[i]))
			}
			continue
		}
		if s.lastErr[i] != "" {
			s.logger.Info("dns lookup recovered", "target", t.Raw)
			s.lastErr[i] = ""
		}
		s.resolved[i] = s.fromAddrs(addrs, t.Port, t.Weight)
	}
	s.publishLocked()
}

// fromAddrs maps addresses to backends in numeric address order, so the
// rotation order does not depend on the order the resolver answered in.
func (s *Set) fromAddrs(addrs []string, port string, weight int) []*balancer.Backend {
	ips := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			continue // LookupHost returns addresses only; be defensive anyway
		}
		ips = append(ips, ip.Unmap())
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	ips = slices.Compact(ips)
	out := make([]*balancer.Backend, 0, len(ips))
	for _, ip := range ips {
		out = append(out, s.backend(&url.URL{Scheme: "http", Host: net.JoinHostPort(ip.String(), port)}, weight))
	}
	return out
}

// backend returns the existing Backend for u's address, or a new one. An
// address listed twice keeps the weight it was first given.
func (s *Set) backend(u *url.URL, weight int) *balancer.Backend {
	if b, ok := s.known[u.Host]; ok {
		return b
	}
	b := balancer.NewBackend(u)
	if weight > 0 {
		b.Weight = weight
	}
	s.known[u.Host] = b
	return b
}

// Watch calls f at once with every current backend as added, then after
// every change. f runs under the set's lock, before the new list is
// published: what a watcher sets up for an added backend exists before any
// request can pick it, and a watcher tearing down a removed backend's
// state must cope with requests that picked it from the previous list.
// f must be quick and must not call back into the set.
func (s *Set) Watch(f WatchFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watchers = append(s.watchers, f)
	if bs := s.Backends(); len(bs) > 0 {
		f(bs, bs, nil)
	}
}

// publishLocked concatenates the per-target lists (an address listed twice
// is kept once) and swaps the new list in, logging what changed.
func (s *Set) publishLocked() {
	var next []*balancer.Backend
	seen := map[*balancer.Backend]bool{}
	for _, list := range s.resolved {
		for _, b := range list {
			if !seen[b] {
				seen[b] = true
				next = append(next, b)
			}
		}
	}
	prev := s.Backends()
	if p := s.current.Load(); p != nil && slices.Equal(prev, next) {
		return
	}

	var added, removed []*balancer.Backend
	var addedNames, removedNames []string
	for _, b := range next {
		if !slices.Contains(prev, b) {
			added = append(added, b)
			addedNames = append(addedNames, b.Addr)
		}
	}
	for _, b := range prev {
		if !seen[b] {
			removed = append(removed, b)
			removedNames = append(removedNames, b.Addr)
			// Forget it, so the known map does not grow with every
			// replica that ever existed (unless its address is known by
			// a new backend already: SetTargets changed its weight).
			if s.known[b.Addr] == b {
				delete(s.known, b.Addr)
			}
		}
	}
	if len(added) > 0 || len(removed) > 0 {
		for _, f := range s.watchers {
			f(next, added, removed)
		}
	}
	s.current.Store(&next)
	s.logger.Info("backends changed", "count", len(next),
		"added", strings.Join(addedNames, ","), "removed", strings.Join(removedNames, ","))
}

// compile-time check that the default resolver fits LookupFunc.
var _ LookupFunc = net.DefaultResolver.LookupHost
