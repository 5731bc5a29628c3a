package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"scalelab/loadtest/internal/bench"
	"scalelab/loadtest/internal/proc"
)

var execLookPath = exec.LookPath

// installHint is the one line to run when a peer is missing.
const installHint = "apt-get install nginx-light haproxy (as root; `make bench-lb` installs them itself when run as root)"

// findPeers finds nginx and haproxy, or fails with a message that says how
// to install what is missing.
func findPeers(lookPath func(string) (string, error), sbin string) (nginx, haproxy string, err error) {
	p, err := bench.FindPeers(lookPath, sbin, "the lb", installHint, "nginx", "haproxy")
	if err != nil {
		return "", "", err
	}
	return p[0], p[1], nil
}

// nginxConfig proxies listen to the backends the way a tuned production
// nginx does: HTTP/1.1 upstream with a keepalive pool (without it nginx
// opens a connection per request), X-Forwarded-For as our L7 sets it, no
// access log (the lb runs with LOG_LEVEL=warn, so neither logs requests).
func nginxConfig(dir, listen string, backends []string) string {
	var servers strings.Builder
	for _, b := range backends {
		fmt.Fprintf(&servers, "        server %s;\n", b)
	}
	return fmt.Sprintf(`# written by benchlb
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path %[1]s/nginx-body;
    proxy_temp_path %[1]s/nginx-proxy;
    fastcgi_temp_path %[1]s/nginx-fastcgi;
    uwsgi_temp_path %[1]s/nginx-uwsgi;
    scgi_temp_path %[1]s/nginx-scgi;
    keepalive_requests 100000;
    upstream backends {
%[3]s        keepalive 256;
        keepalive_requests 100000;
    }
    server {
        listen %[2]s;
        location / {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
    }
}
`, dir, listen, servers.String())
}

// haproxyConfig has one process serve both modes: http with connection
// reuse to the backends (http-reuse always) and tcp, round robin in each.
func haproxyConfig(httpListen, tcpListen string, backends []string) string {
	var servers strings.Builder
	for i, b := range backends {
		fmt.Fprintf(&servers, "    server b%d %s\n", i+1, b)
	}
	return fmt.Sprintf(`# written by benchlb
global
    maxconn 4096
defaults
    timeout connect 2s
    timeout client 60s
    timeout server 60s
frontend http_in
    mode http
    bind %[1]s
    option forwardfor
    default_backend http_pool
backend http_pool
    mode http
    balance roundrobin
    http-reuse always
%[3]sfrontend tcp_in
    mode tcp
    bind %[2]s
    default_backend tcp_pool
backend tcp_pool
    mode tcp
    balance roundrobin
%[3]s`, httpListen, tcpListen, servers.String())
}

// startNginx writes nginx's config into dir, has nginx check it, and starts
// it in the foreground, in all.
func startNginx(all *proc.Group, dir, bin, listen string, backends []string) (*proc.Proc, error) {
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConfig(dir, listen, backends)), 0o644); err != nil {
		return nil, err
	}
	args := []string{"-p", dir, "-e", filepath.Join(dir, "nginx-error.log"), "-c", conf}
	if err := bench.CheckConfig(bin, append(args, "-t", "-q")...); err != nil {
		return nil, err
	}
	return all.Start("nginx", dir, bin, append(args, "-g", "daemon off;"), nil)
}

// startHAProxy writes HAProxy's config into dir, has HAProxy check it, and
// starts it in the foreground, in all.
func startHAProxy(all *proc.Group, dir, bin, httpListen, tcpListen string, backends []string) (*proc.Proc, error) {
	conf := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(conf, []byte(haproxyConfig(httpListen, tcpListen, backends)), 0o644); err != nil {
		return nil, err
	}
	if err := bench.CheckConfig(bin, "-c", "-q", "-f", conf); err != nil {
		return nil, err
	}
	return all.Start("haproxy", dir, bin, []string{"-db", "-f", conf}, nil)
}
