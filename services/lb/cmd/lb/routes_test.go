package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"scalelab/services/platform/platformtest"
)

// writeRoutes replaces the routes file at once (write, then rename), as
// an editor or a config manager would.
func writeRoutes(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func routesFile(t *testing.T, content string) string {
	path := filepath.Join(t.TempDir(), "routes.json")
	writeRoutes(t, path, content)
	return path
}

func getHost(t *testing.T, url, host string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestRoutesByPrefixAndHost(t *testing.T) {
	api, static := namedBackend(t, "api"), namedBackend(t, "static")
	file := routesFile(t, fmt.Sprintf(`{
	  "pools": {"api": {"backends": %q, "policy": "least_request"}, "static": {"backends": %q}},
	  "routes": [
	    {"prefix": "/images", "pool": "static"},
	    {"host": "cdn.lab", "prefix": "/", "pool": "static"},
	    {"prefix": "/api", "pool": "api"}
	  ]}`, api.URL, static.URL))
	// No LB_BACKENDS: the file has the backends.
	lb := startLB(t, map[string]string{"LB_ROUTES_FILE": file, "LB_ADMIN_TOKEN": adminToken})
	tests := []struct {
		host, path string
		code       int
		want       string
	}{
		{"lb.lab", "/images/logo.png", 200, "static"},
		{"lb.lab", "/api/users/1", 200, "api"},
		{"lb.lab", "/api", 200, "api"},
		{"CDN.lab:8000", "/api/users/1", 200, "static"}, // the host's route wins
		{"lb.lab", "/apiary", 404, "404 Not Found: no route in LB_ROUTES_FILE"},
		{"lb.lab", "/", 404, "404 Not Found: no route in LB_ROUTES_FILE"},
	}
	for _, tt := range tests {
		code, body := getHost(t, lb.URL+tt.path, tt.host)
		if code != tt.code || !strings.HasPrefix(body, tt.want) {
			t.Errorf("%s %s: %d %q, want %d %q", tt.host, tt.path, code, body, tt.code, tt.want)
		}
	}
	l := listing(t, lb.AdminURL)
	if len(l.Pools) != 2 || l.Pools[0].Name != "api" || l.Pools[0].Policy != "least_request" || l.Pools[1].Name != "static" {
		t.Errorf("admin listing %+v, want pools api (least_request) and static", l.Pools)
	}
}

// A change of the file under load: the new table takes over, no request
// fails, a bad file is refused with the running table kept, and a pool
// left unchanged keeps its backends' state (here: a drain).
func TestRoutesReloadOnChange(t *testing.T) {
	a, b, c := namedBackend(t, "a"), namedBackend(t, "b"), namedBackend(t, "c")
	table := func(main, other string) string {
		return fmt.Sprintf(`{"pools": {"main": {"backends": %q}, "other": {"backends": %q}},
		  "routes": [{"prefix": "/", "pool": "main"}, {"prefix": "/other", "pool": "other"}]}`, main, other)
	}
	file := routesFile(t, table(a.URL, b.URL+","+c.URL))
	lb := startLB(t, map[string]string{
		"LB_ROUTES_FILE": file, "LB_ROUTES_POLL": "20ms", "LB_ADMIN_TOKEN": adminToken,
	})
	bAddr := strings.TrimPrefix(b.URL, "http://")
	if code, body := adminDo(t, "POST", lb.AdminURL+"/lb/backends/"+bAddr+"/drain", adminToken); code != 200 {
		t.Fatalf("drain: %d %s", code, body)
	}

	l := startLoad(lb.URL+"/", 4)
	defer l.end()
	l.await(t, "a serves", func() bool { return l.served["a"] > 20 })
	writeRoutes(t, file, table(c.URL, b.URL+","+c.URL)) // main: a -> c; other unchanged
	l.await(t, "c serves / after the reload", func() bool { return l.served["c"] > 20 })
	before := l.servedBy("a")

	writeRoutes(t, file, `{"pools": {}, "routes": [`) // broken
	waitForMetric(t, lb, `scalelab_lb_config_reloads_total{result="failure"} 1`)
	served := l.servedBy("c")
	l.await(t, "c still serves after a bad file", func() bool { return l.served["c"] > served+20 })
	l.end()
	l.stop = make(chan struct{})
	if n := l.servedBy("a") - before; n > 4 {
		// At most the requests already in flight at the swap.
		t.Errorf("a served %d requests after the reload", n)
	}
	if len(l.failures) > 0 {
		t.Fatalf("%d of %d requests failed across reloads; first: %s", len(l.failures), l.answers(), l.failures[0])
	}
	waitForMetric(t, lb, `scalelab_lb_config_reloads_total{result="success"} 1`)

	// Pool "other" did not change: b is still drained in it.
	for range 4 {
		if _, body := get(t, lb.URL+"/other", nil); body != "c" {
			t.Fatalf("/other served by %q, want c (b drained before the reloads)", body)
		}
	}
	if !strings.Contains(lb.Logs(), "routes not reloaded; the running table stays") {
		t.Errorf("the refused file was not logged:\n%s", lb.Logs())
	}
}

// With LB_ROUTES_POLL=0, only SIGHUP reloads.
func TestRoutesReloadOnSIGHUP(t *testing.T) {
	a, b := namedBackend(t, "a"), namedBackend(t, "b")
	table := func(u string) string {
		return fmt.Sprintf(`{"pools": {"p": {"backends": %q}}, "routes": [{"prefix": "/", "pool": "p"}]}`, u)
	}
	file := routesFile(t, table(a.URL))
	lb := startLB(t, map[string]string{"LB_ROUTES_FILE": file, "LB_ROUTES_POLL": "0s"})
	writeRoutes(t, file, table(b.URL))
	if _, body := get(t, lb.URL+"/", nil); body != "a" {
		t.Fatalf("before SIGHUP: %q, want a (no polling)", body)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitForMetric(t, lb, `scalelab_lb_config_reloads_total{result="success"} 1`)
	if _, body := get(t, lb.URL+"/", nil); body != "b" {
		t.Errorf("after SIGHUP: %q, want b", body)
	}
}

func TestRoutesConfigErrors(t *testing.T) {
	bad := routesFile(t, `{"pools": {"p": {"backends": "http://a:1"}}, "routes": [{"prefix": "/", "pool": "q"}]}`)
	for name, env := range map[string]map[string]string{
		"missing file": {"LB_ROUTES_FILE": filepath.Join(t.TempDir(), "none.json")},
		"bad table":    {"LB_ROUTES_FILE": bad},
		"bad poll":     {"LB_ROUTES_FILE": bad, "LB_ROUTES_POLL": "often"},
		"fast engine":  {"LB_ROUTES_FILE": bad, "LB_ENGINE": "fast"},
	} {
		t.Run(name, func(t *testing.T) {
			env["LISTEN_ADDR"], env["ADMIN_ADDR"] = "127.0.0.1:0", "127.0.0.1:0"
			err := run(t.Context(), []string{"lb"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
			want := map[string]string{"bad poll": "LB_ROUTES_POLL", "fast engine": "LB_ENGINE"}[name]
			if want == "" {
				want = "LB_ROUTES_FILE"
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("run() = %v, want an error naming %s", err, want)
			}
		})
	}
}

// A pool whose backends change keeps the backends that stay, with their
// state: b, drained before the reload, stays drained; c, added, serves.
func TestRoutesReloadKeepsBackendState(t *testing.T) {
	a, b, c := namedBackend(t, "a"), namedBackend(t, "b"), namedBackend(t, "c")
	table := func(backends string) string {
		return fmt.Sprintf(`{"pools": {"main": {"backends": %q}}, "routes": [{"prefix": "/", "pool": "main"}]}`, backends)
	}
	file := routesFile(t, table(a.URL+","+b.URL))
	lb := startLB(t, map[string]string{"LB_ROUTES_FILE": file, "LB_ROUTES_POLL": "20ms", "LB_ADMIN_TOKEN": adminToken})
	bAddr := strings.TrimPrefix(b.URL, "http://")
	if code, body := adminDo(t, "POST", lb.AdminURL+"/lb/backends/"+bAddr+"/drain", adminToken); code != 200 {
		t.Fatalf("drain: %d %s", code, body)
	}
	writeRoutes(t, file, table(a.URL+","+b.URL+","+c.URL))
	waitForMetric(t, lb, `scalelab_lb_config_reloads_total{result="success"} 1`)
	served := map[string]int{}
	for range 8 {
		_, body := get(t, lb.URL+"/", nil)
		served[body]++
	}
	if served["b"] != 0 || served["a"] == 0 || served["c"] == 0 {
		t.Errorf("after adding c, served %v: want a and c, and b still drained", served)
	}
	bes := listing(t, lb.AdminURL).Pools[0].Backends
	if len(bes) != 3 || bes[1].Address != bAddr || bes[1].State != "drained" {
		t.Errorf("listing %+v, want a, b (drained), c", bes)
	}
}

// L4 sees no host or path: it balances over the catch-all route's pool.
func TestRoutesL4UsesCatchAllPool(t *testing.T) {
	a, b := namedBackend(t, "a"), namedBackend(t, "b")
	file := routesFile(t, fmt.Sprintf(`{"pools": {"apis": {"backends": %q}, "main": {"backends": %q}},
	  "routes": [{"prefix": "/api", "pool": "apis"}, {"prefix": "/", "pool": "main"}]}`, a.URL, b.URL))
	l4Addr := platformtest.FreeAddr(t)
	startLB(t, map[string]string{"LB_ROUTES_FILE": file, "L4_LISTEN_ADDR": l4Addr})
	for i := range 4 {
		if by := l4Get(t, l4Addr); by != "b" {
			t.Fatalf("L4 connection %d served by %q, want b (the pool of prefix /)", i, by)
		}
	}
}
