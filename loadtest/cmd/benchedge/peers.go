package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

var execLookPath = exec.LookPath

// installHint is the one line to run when a peer is missing.
const installHint = "apt-get install varnish nginx-light (as root; `make bench-edge` installs them itself when run as root)"

// findTool returns the path of a peer's binary. Debian installs both in
// /usr/sbin, which a non-root PATH often lacks, so sbin is tried too.
func findTool(name string, lookPath func(string) (string, error), sbin string) (string, error) {
	if p, err := lookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join(sbin, name)
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return p, nil
	}
	return "", fmt.Errorf("%s not found", name)
}

// findPeers finds varnishd and nginx, or fails with a message that says
// how to install what is missing.
func findPeers(lookPath func(string) (string, error), sbin string) (varnishd, nginx string, err error) {
	var missing []string
	if varnishd, err = findTool("varnishd", lookPath, sbin); err != nil {
		missing = append(missing, "varnishd")
	}
	if nginx, err = findTool("nginx", lookPath, sbin); err != nil {
		missing = append(missing, "nginx")
	}
	if len(missing) > 0 {
		return "", "", fmt.Errorf("%s not installed: the edge is compared against Debian's packages; %s",
			strings.Join(missing, " and "), installHint)
	}
	return varnishd, nginx, nil
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

// checkConfig runs a peer's own configuration check, so a bad config says
// why instead of timing out as "not ready".
func checkConfig(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// toolVersion is a peer's version line, e.g. "nginx/1.22.1".
func toolVersion(bin string, args ...string) string {
	out, _ := exec.Command(bin, args...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	line = strings.TrimPrefix(line, "nginx version: ")
	if line == "" {
		return filepath.Base(bin)
	}
	return line
}
