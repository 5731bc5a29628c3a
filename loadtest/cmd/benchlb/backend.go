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
	name, listen, admin := args[0], args[1], args[2]

	var accepted atomic.Int64
	body := []byte("hello from " + name + "\n")
	traffic := &http.Server{
		Addr: listen,
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
	}
	adminSrv := &http.Server{
		Addr: admin,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, strconv.FormatInt(accepted.Load(), 10))
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	errc := make(chan error, 2)
	go func() { errc <- traffic.ListenAndServe() }()
	go func() { errc <- adminSrv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	traffic.Close()
	adminSrv.Close()
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
