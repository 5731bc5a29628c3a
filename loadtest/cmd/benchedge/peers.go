package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"scalelab/loadtest/internal/bench"
	"scalelab/loadtest/internal/proc"
)

var execLookPath = exec.LookPath

// installHint is the one line to run when a peer is missing.
const installHint = "apt-get install varnish nginx-light (as root; `make bench-edge` installs them itself when run as root)"

// findPeers finds varnishd and nginx, or fails with a message that says
// how to install what is missing.
func findPeers(lookPath func(string) (string, error), sbin string) (varnishd, nginx string, err error) {
	p, err := bench.FindPeers(lookPath, sbin, "the edge", installHint, "varnishd", "nginx")
	if err != nil {
		return "", "", err
	}
	return p[0], p[1], nil
}

// varnishVCL sends misses to the origin and otherwise keeps Varnish's
// built-in logic, which caches what the origin's Cache-Control allows: the
// setup a Varnish user starts from.
func varnishVCL(origin string) (string, error) {
	host, port, err := net.SplitHostPort(origin)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`vcl 4.1;
# written by benchedge
backend origin {
    .host = "%s";
    .port = "%s";
}
`, host, port), nil
}

// varnishArgs runs varnishd in the foreground with a memory store as large
// as the edge's, its working directory in dir.
func varnishArgs(dir, listen, vcl string, cacheBytes int64) []string {
	return []string{
		"-F", "-j", "none",
		"-n", filepath.Join(dir, "varnish"),
		"-a", listen,
		"-f", vcl,
		"-s", fmt.Sprintf("malloc,%dm", cacheBytes>>20),
		"-T", "none",
	}
}

// nginxConfig is nginx as a caching reverse proxy: proxy_cache (its cache
// files on dir, which benchedge puts on a tmpfs when there is one, like the
// other two caches' memory), proxy_cache_lock for collapsing, an upstream
// keepalive pool, no access log; $upstream_cache_status tells a hit.
func nginxConfig(dir, cacheDir, listen, origin string, cacheBytes int64) string {
	return fmt.Sprintf(`# written by benchedge
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path %[1]s/nginx-body;
    proxy_temp_path %[2]s/tmp;
    fastcgi_temp_path %[1]s/nginx-fastcgi;
    uwsgi_temp_path %[1]s/nginx-uwsgi;
    scgi_temp_path %[1]s/nginx-scgi;
    keepalive_requests 100000;
    proxy_cache_path %[2]s/cache levels=1:2 keys_zone=edge:16m max_size=%[5]dm inactive=1h use_temp_path=off;
    upstream origin {
        server %[4]s;
        keepalive 64;
    }
    server {
        listen %[3]s;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache edge;
            proxy_cache_lock on;
            proxy_cache_revalidate on;
            add_header X-Cache $upstream_cache_status;
        }
    }
}
`, dir, cacheDir, listen, origin, cacheBytes>>20)
}

// toolVersion is a peer's version line, e.g. "nginx/1.22.1".
func toolVersion(bin string, args ...string) string {
	line := strings.TrimPrefix(bench.ToolVersion(bin, args...), "nginx version: ")
	if line == "" {
		return filepath.Base(bin)
	}
	return line
}

// startVarnish writes the VCL into dir and starts varnishd in the
// foreground, in all.
func startVarnish(all *proc.Group, dir, bin, listen, originAddr string) (*proc.Proc, error) {
	vcl, err := varnishVCL(originAddr)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "bench.vcl")
	if err := os.WriteFile(path, []byte(vcl), 0o644); err != nil {
		return nil, err
	}
	return all.Start("varnish", dir, bin, varnishArgs(dir, listen, path, cacheBytes), nil)
}

// startNginx writes nginx's config into dir, has nginx check it, and starts
// it in the foreground, in all.
func startNginx(all *proc.Group, dir, cacheDir, bin, listen, originAddr string) (*proc.Proc, error) {
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConfig(dir, cacheDir, listen, originAddr, cacheBytes)), 0o644); err != nil {
		return nil, err
	}
	args := []string{"-p", dir, "-e", filepath.Join(dir, "nginx-error.log"), "-c", conf}
	if err := bench.CheckConfig(bin, append(args, "-t", "-q")...); err != nil {
		return nil, err
	}
	return all.Start("nginx", dir, bin, append(args, "-g", "daemon off;"), nil)
}
