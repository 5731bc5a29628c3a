package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"scalelab/loadtest/internal/bench"
)

func noPath(string) (string, error) { return "", errors.New("not in PATH") }

// Without nginx or HAProxy the benchmark stops with the command that
// installs them, naming what is missing.
func TestFindPeersSaysHowToInstall(t *testing.T) {
	sbin := t.TempDir()
	_, _, err := findPeers(noPath, sbin)
	if err == nil || !strings.Contains(err.Error(), "apt-get install nginx-light haproxy") ||
		!strings.Contains(err.Error(), "nginx and haproxy not installed") {
		t.Fatalf("err = %v, want both named and the apt-get line", err)
	}
	if err := os.WriteFile(filepath.Join(sbin, "nginx"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, _, err = findPeers(noPath, sbin)
	if err == nil || !strings.Contains(err.Error(), "haproxy not installed") || strings.Contains(err.Error(), "nginx and") {
		t.Fatalf("err = %v, want only haproxy named", err)
	}
	if err := os.WriteFile(filepath.Join(sbin, "haproxy"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	nginx, haproxy, err := findPeers(noPath, sbin)
	if err != nil || nginx != filepath.Join(sbin, "nginx") || haproxy != filepath.Join(sbin, "haproxy") {
		t.Fatalf("findPeers = %q, %q, %v; want both found in %s", nginx, haproxy, err, sbin)
	}
}

func TestPeerConfigs(t *testing.T) {
	backends := []string{"127.0.0.1:1001", "127.0.0.1:1002"}
	ng := nginxConfig("/tmp/x", "127.0.0.1:2000", backends)
	for _, want := range []string{"server 127.0.0.1:1001;", "server 127.0.0.1:1002;", "keepalive 256;",
		"proxy_http_version 1.1;", `proxy_set_header Connection "";`, "listen 127.0.0.1:2000;", "access_log off;"} {
		if !strings.Contains(ng, want) {
			t.Errorf("nginx config lacks %q:\n%s", want, ng)
		}
	}
	hp := haproxyConfig("127.0.0.1:3000", "127.0.0.1:3001", backends)
	for _, want := range []string{"http-reuse always", "bind 127.0.0.1:3000", "bind 127.0.0.1:3001", "mode tcp", "balance roundrobin"} {
		if !strings.Contains(hp, want) {
			t.Errorf("haproxy config lacks %q:\n%s", want, hp)
		}
	}
	// Both pools list both backends.
	if n := strings.Count(hp, "server b1 127.0.0.1:1001"); n != 2 {
		t.Errorf("backend-1 appears in %d pools, want 2:\n%s", n, hp)
	}
}

func TestSummarize(t *testing.T) {
	r := summarize("x", []bench.Measurement{
		{Requests: 100, Elapsed: time.Second, P50: 3 * time.Millisecond, P99: 30 * time.Millisecond, Counted: 2},
		{Requests: 300, Elapsed: time.Second, P50: 1 * time.Millisecond, P99: 10 * time.Millisecond, Counted: 0, Errors: 1},
		{Requests: 200, Elapsed: time.Second, P50: 2 * time.Millisecond, P99: 20 * time.Millisecond, Counted: 4},
	})
	if r.RPS != 200 || r.Requests != 600 || r.Errors != 1 {
		t.Errorf("rps %v requests %d errors %d, want 200 600 1", r.RPS, r.Requests, r.Errors)
	}
	if r.P50 != 2*time.Millisecond || r.P99 != 20*time.Millisecond {
		t.Errorf("p50 %v p99 %v, want the medians 2ms and 20ms", r.P50, r.P99)
	}
	if r.connsPerReq != 0.01 {
		t.Errorf("conns/req %v, want 6/600", r.connsPerReq)
	}
}

// The backend answers with its name and counts connections, not requests.
func TestBackendCountsConnections(t *testing.T) {
	// Bound before serving: the requests below wait in the listeners'
	// queues if they come first, so nothing waits for the server to start.
	b, err := listenBackend("backend-9", "127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addrs := []string{b.trafficLn.Addr().String(), b.adminLn.Addr().String()}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	var client *http.Client
	get := func() {
		t.Helper()
		resp, err := client.Get("http://" + addrs[0] + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Header.Get("X-Served-By") != "backend-9" || string(body) != "hello from backend-9\n" {
			t.Fatalf("got %q, X-Served-By %q", body, resp.Header.Get("X-Served-By"))
		}
	}
	before, err := backendConns(t.Context(), addrs[1])
	if err != nil {
		t.Fatal(err)
	}
	// Three requests on one keep-alive connection, then one on a new one.
	client = &http.Client{Transport: &http.Transport{Proxy: nil}}
	get()
	get()
	get()
	client.CloseIdleConnections()
	client = &http.Client{Transport: &http.Transport{Proxy: nil}}
	get()
	client.CloseIdleConnections()
	after, err := backendConns(t.Context(), addrs[1])
	if err != nil {
		t.Fatal(err)
	}
	if after-before != 2 {
		t.Fatalf("backend counted %d new connections for 4 requests over 2 connections, want 2", after-before)
	}
}
