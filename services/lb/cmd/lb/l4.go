package main

import (
	"fmt"
	"net"
	"time"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/lb/internal/l4"
	"scalelab/services/platform"
)

// listeners are the lb's own listeners beside the platform's (L4, the fast
// path, HTTPS), each served by a server the platform runs and drains with
// the others (platform.Service.AddServer).
type listeners struct {
	svc    *platform.Service
	opened []net.Listener
}

func (ls *listeners) add(name string, ln net.Listener, srv platform.Server) {
	ls.opened = append(ls.opened, ln)
	ls.svc.AddServer(name, ln, srv)
}

// close closes what was opened, when the lb stops before it runs.
func (ls *listeners) close() {
	for _, ln := range ls.opened {
		ln.Close()
	}
}

// addL4 adds the TCP listener of L4 mode when L4_LISTEN_ADDR is set,
// balancing connections over the same backends as the HTTP proxy, with the
// same health: backends is the health-filtered list and observe feeds dial
// outcomes to passive ejection (either may come from the tracker). If L4
// stops on an error, the whole process stops rather than run half-broken.
func (ls *listeners) addL4(cfg l4.Config, backends func() []*balancer.Backend,
	observe func(*balancer.Backend, bool), connectTimeout time.Duration) error {
	if cfg.ListenAddr == "" {
		return nil
	}
	ln, err := l4.Listen(cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("L4_LISTEN_ADDR: %w", err)
	}
	svc := ls.svc
	cfg.Backends = backends
	cfg.Observe = observe
	cfg.ConnectTimeout = connectTimeout
	cfg.ShutdownTimeout = svc.Base.ShutdownTimeout
	cfg.Metrics = l4.NewMetrics(svc.Registry)
	cfg.Logger = svc.Logger
	ls.add("l4", ln, l4.New(cfg))
	return nil
}
