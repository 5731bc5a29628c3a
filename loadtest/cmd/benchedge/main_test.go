package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"scalelab/loadtest/internal/bench"
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

func TestReport(t *testing.T) {
	var b strings.Builder
	printReport(&b, []objectTable{{object: "1 KiB", rows: []row{
		{Name: "edge (ours)", RPS: 200, P99: time.Millisecond, CPUPerReq: 50 * time.Microsecond},
		{Name: "Varnish", RPS: 100, P99: 2 * time.Millisecond, CPUPerReq: 100 * time.Microsecond},
		{Name: "nginx proxy_cache", RPS: 400, P99: time.Millisecond, CPUPerReq: 25 * time.Microsecond, Counted: 2},
	}}}, bench.Options{Rounds: 1, Duration: time.Second})
	out := b.String()
	for _, want := range []string{"ours/Varnish   2.00  0.50     0.50", "ours/nginx   0.50  1.00     2.00", "WARNING", "nginx proxy_cache: 2 origin requests"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
