package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// serveBackend is what `benchlb backend NAME LISTEN ADMIN` runs: the same
// binary started again as a child process, so the backends are real
// processes with their own runtime, as the balancers' backends are in
// production. It answers every request with a short body and X-Served-By,
// and counts the connections it accepts, which /conns on the admin address
// reports: how many upstream connections each balancer opened.
func serveBackend(ctx context.Context, args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: benchlb backend NAME LISTEN_ADDR ADMIN_ADDR")
	}
	b, err := listenBackend(args[0], args[1], args[2])
	if err != nil {
		return err
	}
	return b.serve(ctx)
}

// backend is a backend whose two addresses are bound: connections made
// from here on wait in the listeners' queues until serve answers them.
type backend struct {
	traffic, admin     *http.Server
	trafficLn, adminLn net.Listener
}

func listenBackend(name, listen, admin string) (*backend, error) {
	var accepted atomic.Int64
	body := []byte("hello from " + name + "\n")
	b := &backend{
		traffic: &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h := w.Header()
				h["X-Served-By"] = []string{name}
				h["Content-Type"] = []string{"text/plain"}
				h["Content-Length"] = []string{strconv.Itoa(len(body))}
				w.Write(body)
			}),
			ConnState: func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					accepted.Add(1)
				}
			},
			ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout:       90 * time.Second,
		},
		admin: &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, strconv.FormatInt(accepted.Load(), 10))
			}),
			ReadHeaderTimeout: 5 * time.Second,
		},
	}
	var err error
	if b.trafficLn, err = net.Listen("tcp", listen); err != nil {
		return nil, err
	}
	if b.adminLn, err = net.Listen("tcp", admin); err != nil {
		b.trafficLn.Close()
		return nil, err
	}
	return b, nil
}

// serve answers on both addresses until ctx ends.
func (b *backend) serve(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() { errc <- b.traffic.Serve(b.trafficLn) }()
	go func() { errc <- b.admin.Serve(b.adminLn) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	b.traffic.Close()
	b.admin.Close()
	return nil
}

// backendConns reads how many connections a backend has accepted so far.
func backendConns(ctx context.Context, adminAddr string) (int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+adminAddr+"/conns", nil)
	resp, err := (&http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}
