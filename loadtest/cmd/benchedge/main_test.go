package main

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestFindPeersSaysHowToInstall(t *testing.T) {
	none := func(string) (string, error) { return "", errors.New("not found") }
	_, _, err := findPeers(none, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "varnishd and nginx") || !strings.Contains(err.Error(), "apt-get install varnish nginx-light") {
		t.Errorf("findPeers = %v, want both named and the install line", err)
	}
	all := func(name string) (string, error) { return "/usr/sbin/" + name, nil }
	if v, n, err := findPeers(all, ""); err != nil || v != "/usr/sbin/varnishd" || n != "/usr/sbin/nginx" {
		t.Errorf("findPeers = %q, %q, %v", v, n, err)
	}
}

func TestPeerConfigs(t *testing.T) {
	vcl, err := varnishVCL("127.0.0.1:8090")
	if err != nil || !strings.Contains(vcl, `.host = "127.0.0.1"`) || !strings.Contains(vcl, `.port = "8090"`) || !strings.HasPrefix(vcl, "vcl 4.1;") {
		t.Errorf("VCL %q, %v", vcl, err)
	}
	if _, err := varnishVCL("no-port"); err == nil {
		t.Error("varnishVCL accepted an address without a port")
	}
	args := strings.Join(varnishArgs("/tmp/x", "127.0.0.1:1", "/tmp/x/b.vcl", 256<<20), " ")
	if !strings.Contains(args, "-s malloc,256m") || !strings.Contains(args, "-F") {
		t.Errorf("varnishd args %q", args)
	}
	conf := nginxConfig("/tmp/x", "/dev/shm/c", "127.0.0.1:2", "127.0.0.1:3", 256<<20)
	for _, want := range []string{"proxy_cache edge;", "max_size=256m", "server 127.0.0.1:3;", "listen 127.0.0.1:2;", "$upstream_cache_status"} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx config lacks %q", want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	if _, err := parseFlags([]string{"-c", "0"}, io.Discard); err == nil {
		t.Error("-c 0 accepted")
	}
	o, err := parseFlags(nil, io.Discard)
	if err != nil || o.concurrency != 32 || o.rounds != 3 {
		t.Errorf("defaults %+v, %v", o, err)
	}
}

func TestSummarizeAndReport(t *testing.T) {
	r := summarize("x", []measurement{
		{requests: 100, elapsed: time.Second, p50: time.Millisecond, p99: 3 * time.Millisecond, cacheCPU: 10 * time.Millisecond},
		{requests: 300, elapsed: time.Second, p50: 2 * time.Millisecond, p99: 5 * time.Millisecond, cacheCPU: 30 * time.Millisecond, originRequests: 1},
	})
	if r.rps != 200 || r.cpuPerReq != 100*time.Microsecond || r.originRequests != 1 {
		t.Errorf("summary %+v", r)
	}
	var b strings.Builder
	printReport(&b, []objectTable{{object: "1 KiB", rows: []row{
		{name: "edge (ours)", rps: 200, p99: time.Millisecond, cpuPerReq: 50 * time.Microsecond},
		{name: "Varnish", rps: 100, p99: 2 * time.Millisecond, cpuPerReq: 100 * time.Microsecond},
		{name: "nginx proxy_cache", rps: 400, p99: time.Millisecond, cpuPerReq: 25 * time.Microsecond, originRequests: 2},
	}}}, options{rounds: 1, duration: time.Second})
	out := b.String()
	for _, want := range []string{"ours/Varnish   2.00  0.50     0.50", "ours/nginx   0.50  1.00     2.00", "WARNING", "nginx proxy_cache: 2 origin requests"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
