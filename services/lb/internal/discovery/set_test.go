package discovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"scalelab/services/lb/internal/balancer"
)

// fakeDNS answers from a table the test changes between refreshes, the
// way compose's DNS changes as replicas come and go.
type fakeDNS struct {
	mu      sync.Mutex
	answers map[string][]string
	errs    map[string]error
}

func (f *fakeDNS) set(name string, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers[name], f.errs[name] = addrs, nil
}

func (f *fakeDNS) fail(name string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[name] = err
}

func (f *fakeDNS) lookup(_ context.Context, name string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs[name]; err != nil {
		return nil, err
	}
	return f.answers[name], nil
}

func newFake() *fakeDNS { return &fakeDNS{answers: map[string][]string{}, errs: map[string]error{}} }

func addrs(bs []*balancer.Backend) string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Addr)
	}
	return strings.Join(out, ",")
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func mustTargets(t *testing.T, list string) []Target {
	t.Helper()
	ts, err := ParseTargets(list)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// Each step changes DNS, refreshes once, and checks the published list.
func TestRefresh(t *testing.T) {
	noSuchHost := &net.DNSError{Err: "no such host", Name: "api", IsNotFound: true}
	type step struct {
		name   string
		change func(*fakeDNS)
		want   string
	}
	tests := []struct {
		name    string
		targets string
		steps   []step
	}{
		{
			name:    "scale up and down",
			targets: "dns://api:8080",
			steps: []step{
				{"one replica", func(f *fakeDNS) { f.set("api", "10.0.0.2") }, "10.0.0.2:8080"},
				{"scaled to 3, answered unordered", func(f *fakeDNS) { f.set("api", "10.0.0.10", "10.0.0.2", "10.0.0.9") },
					"10.0.0.2:8080,10.0.0.9:8080,10.0.0.10:8080"},
				{"one removed", func(f *fakeDNS) { f.set("api", "10.0.0.10", "10.0.0.2") }, "10.0.0.2:8080,10.0.0.10:8080"},
			},
		},
		{
			name:    "failure keeps last known, recovers",
			targets: "dns://api:8080",
			steps: []step{
				{"not resolvable at start", func(f *fakeDNS) { f.fail("api", noSuchHost) }, ""},
				{"appears", func(f *fakeDNS) { f.set("api", "10.0.0.3", "10.0.0.4") }, "10.0.0.3:8080,10.0.0.4:8080"},
				{"dns hiccup", func(f *fakeDNS) { f.fail("api", errors.New("i/o timeout")) }, "10.0.0.3:8080,10.0.0.4:8080"},
				{"back", func(f *fakeDNS) { f.set("api", "10.0.0.4") }, "10.0.0.4:8080"},
			},
		},
		{
			name:    "static and dns in listed order, duplicates once",
			targets: "http://10.0.0.9:8080,dns://api:8080,dns://other:9000",
			steps: []step{
				{"before resolving", func(f *fakeDNS) {}, "10.0.0.9:8080"},
				{"resolved", func(f *fakeDNS) {
					f.set("api", "10.0.0.9", "10.0.0.1")
					f.set("other", "::1", "127.0.0.1")
				}, "10.0.0.9:8080,10.0.0.1:8080,127.0.0.1:9000,[::1]:9000"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dns := newFake()
			s := NewSet(mustTargets(t, tt.targets), dns.lookup, quiet)
			for _, st := range tt.steps {
				st.change(dns)
				if st.name != "before resolving" {
					s.Refresh(t.Context())
				}
				if got := addrs(s.Backends()); got != st.want {
					t.Fatalf("%s: backends = %q, want %q", st.name, got, st.want)
				}
			}
		})
	}
}

// A replica that stays in DNS must stay the same *Backend: state that
// health checks and policies attach to it must survive a refresh.
func TestRefreshKeepsIdentity(t *testing.T) {
	dns := newFake()
	dns.set("api", "10.0.0.1", "10.0.0.2")
	s := NewSet(mustTargets(t, "dns://api:80"), dns.lookup, quiet)
	s.Refresh(t.Context())
	first := s.Backends()[1]
	dns.set("api", "10.0.0.2", "10.0.0.3", "10.0.0.1")
	s.Refresh(t.Context())
	if got := s.Backends()[1]; got != first {
		t.Fatalf("10.0.0.2 became a new Backend after refresh")
	}
}

// Run picks up a change at its next tick. The bubble's clock is fake:
// sleeping one interval lets the ticker fire once, and synctest.Wait
// returns when the refresh it started is done.
func TestRunPicksUpNewReplicas(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dns := newFake()
		dns.set("api", "10.0.0.1")
		s := NewSet(mustTargets(t, "dns://api:80"), dns.lookup, quiet)
		s.Refresh(t.Context())
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { s.Run(ctx, time.Second); close(done) }()
		defer func() { cancel(); <-done }()

		dns.set("api", "10.0.0.1", "10.0.0.2")
		synctest.Wait()
		if got := addrs(s.Backends()); got != "10.0.0.1:80" {
			t.Fatalf("backends = %q before the first tick, want 10.0.0.1:80", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got, want := addrs(s.Backends()), "10.0.0.1:80,10.0.0.2:80"; got != want {
			t.Fatalf("backends = %q after one tick, want %q", got, want)
		}
	})
}

// The real resolver: localhost must give loopback addresses (127.0.0.1,
// and ::1 on hosts that list it).
func TestLocalhostResolves(t *testing.T) {
	s := NewSet(mustTargets(t, "dns://localhost:8080"), net.DefaultResolver.LookupHost, quiet)
	s.Refresh(t.Context())
	bs := s.Backends()
	if len(bs) == 0 {
		t.Fatal("localhost resolved to no backend")
	}
	for _, b := range bs {
		ap, err := netip.ParseAddrPort(b.Addr)
		if err != nil || !ap.Addr().IsLoopback() || ap.Port() != 8080 {
			t.Errorf("unexpected backend %q for localhost", b.Addr)
		}
	}
}

// A watcher hears of every backend once as added and once as removed,
// weights included, and of nothing when nothing changed.
func TestWatch(t *testing.T) {
	dns := newFake()
	dns.set("api", "10.0.0.1")
	s := NewSet(mustTargets(t, "http://10.0.0.9:80 weight=4,dns://api:80 weight=2"), dns.lookup, quiet)
	var events []string
	registered := false
	s.Watch(func(current, added, removed []*balancer.Backend) {
		for _, b := range added {
			if !slices.Contains(current, b) {
				t.Errorf("added %s is not in the current list", b)
			}
		}
		for _, b := range added {
			// Except for the first call, which reports what is already
			// there, the new list is not published yet.
			if registered && slices.Contains(*s.current.Load(), b) {
				t.Errorf("%s visible before the watcher ran", b)
			}
			events = append(events, fmt.Sprintf("+%s/%d", b.Addr, b.Weight))
		}
		for _, b := range removed {
			events = append(events, "-"+b.Addr)
		}
	})
	registered = true
	s.Refresh(t.Context())
	s.Refresh(t.Context())
	dns.set("api", "10.0.0.2")
	s.Refresh(t.Context())
	want := "+10.0.0.9:80/4 +10.0.0.1:80/2 +10.0.0.2:80/2 -10.0.0.1:80"
	if got := strings.Join(events, " "); got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
}
