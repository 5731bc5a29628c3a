// Command benchedge (`make bench-edge`) measures the edge's hit path
// against the caches users run in production, in one run on one machine:
// requests per second, p50 and p99 of GETs for a 1 KiB and a 100 KiB object
// already in the cache, through
//
//   - our edge (built from this workspace, run as a process),
//   - Varnish (varnishd with a malloc store and the built-in VCL),
//   - nginx with proxy_cache (its cache files on a tmpfs when there is one),
//
// all three in front of the same origin: an HTTP server inside this
// program, serving both objects with `Cache-Control: public, max-age=3600`
// and counting its requests, so the report can show that the measured
// requests were all hits (origin requests 0). Targets are measured in turn,
// several rounds, the order rotated each round, so a slow minute on a
// shared machine lands on all of them rather than on one. Besides req/s and
// latency it shows each cache's CPU time per request (user + system time
// of its process group, from /proc), which a busy machine moves far less
// than throughput.
//
// The numbers are printed, never judged: the load generator and the caches
// share the same few cores, so absolute figures say as much about the
// machine as about the code. Compare the ratios.
//
// Varnish and nginx come from Debian's packages (apt-get install varnish
// nginx-light); without them benchedge stops and says so.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"scalelab/loadtest/internal/bench"
	"scalelab/loadtest/internal/proc"
)

// runCap bounds the whole program, setup included.
const runCap = 10 * time.Minute

// cacheBytes is every cache's memory budget.
const cacheBytes = 256 << 20

var command = bench.Command{Name: "benchedge", Stopped: "every process it started is stopped"}

func main() { command.Main(run) }

// objects are the two sizes measured: a small asset and an image-sized one.
var objects = []struct {
	name string
	path string
	size int
}{
	{"1 KiB", "/obj-1k", 1 << 10},
	{"100 KiB", "/obj-100k", 100 << 10},
}

// target is one cache, measured on each object.
type target struct {
	name  string
	base  string     // http://addr
	owner *proc.Proc // the cache's process
	isHit func(h http.Header) bool
}

// origin serves the objects and counts the requests it gets.
type origin struct {
	requests atomic.Int64
	bodies   map[string][]byte
	srv      *http.Server
}

func (o *origin) Close() error { return o.srv.Close() }

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.requests.Add(1)
	body, ok := o.bodies[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("ETag", fmt.Sprintf(`"%s-%d"`, strings.TrimPrefix(r.URL.Path, "/"), len(body)))
	w.Write(body)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := bench.ParseFlags("benchedge", "per target and object", args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, runCap)
	defer cancel()
	progress := command.Progress(stderr)

	var bins binaries
	if bins.varnishd, bins.nginx, err = findPeers(execLookPath, "/usr/sbin"); err != nil {
		return err
	}
	root, err := proc.WorkspaceRoot(".")
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "benchedge-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cacheDir, err := nginxCacheDir()
	if err != nil {
		return err
	}
	defer os.RemoveAll(cacheDir)

	progress("building the edge")
	if bins.edge, err = proc.Build(ctx, root, tmp, "services/edge/cmd/edge"); err != nil {
		return err
	}

	o, originAddr, err := startOrigin()
	if err != nil {
		return err
	}
	defer o.Close()
	var all proc.Group
	defer func() { all.Stop() }()
	progress("starting the edge, Varnish and nginx on 127.0.0.1 in front of an origin on %s", originAddr)
	targets, err := startCaches(ctx, &all, tmp, cacheDir, bins, originAddr)
	if err != nil {
		return err
	}

	fmt.Fprintf(stdout, "Machine: %d CPUs, %s %s/%s%s; %s; %s. Load generator (Go net/http client, c=%d keep-alive connections) "+
		"and caches share these CPUs over loopback; the origin runs inside the load generator and is not asked during the measurements.\n",
		runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, bench.LoadAverage(),
		toolVersion(bins.varnishd, "-V"), toolVersion(bins.nginx, "-v"), opts.Concurrency)

	tables, err := measureObjects(ctx, opts, targets, o, progress)
	if err != nil {
		return err
	}
	printReport(stdout, tables, opts)
	progress("stopping every process it started")
	return nil
}

// binaries are the caches benchedge runs.
type binaries struct{ edge, varnishd, nginx string }

// nginxCacheDir makes the directory of nginx's cache files: on a tmpfs
// they are memory too, as the other two caches' objects are.
func nginxCacheDir() (string, error) {
	dir, err := os.MkdirTemp(tmpfsDir(), "benchedge-nginx-")
	if err != nil {
		return "", err
	}
	// nginx's workers write it, and run as another user when started by root.
	if err := os.Chmod(dir, 0o777); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// startOrigin serves the objects on a loopback port of this process.
func startOrigin() (*origin, string, error) {
	o := &origin{bodies: map[string][]byte{}}
	for _, obj := range objects {
		b := make([]byte, obj.size)
		for i := range b {
			b[i] = byte('a' + i%26)
		}
		o.bodies[obj.path] = b
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	o.srv = &http.Server{Handler: o, ReadHeaderTimeout: 5 * time.Second}
	go o.srv.Serve(ln)
	return o, ln.Addr().String(), nil
}

// startCaches starts the three caches in front of the origin, adds each
// process to all, and returns them as targets once each answers and holds
// both objects.
func startCaches(ctx context.Context, all *proc.Group, dir, cacheDir string, bins binaries, originAddr string) ([]*target, error) {
	addrs, err := proc.FreeAddrs(4)
	if err != nil {
		return nil, err
	}
	edgeAddr, edgeAdmin, varnishAddr, nginxAddr := addrs[0], addrs[1], addrs[2], addrs[3]
	edge, err := all.Start("edge", dir, bins.edge, nil, map[string]string{
		"ORIGIN_URL":       "http://" + originAddr,
		"LISTEN_ADDR":      edgeAddr,
		"ADMIN_ADDR":       edgeAdmin,
		"EDGE_CACHE_BYTES": fmt.Sprint(cacheBytes),
		"INSTANCE_ID":      "edge",
		"SHUTDOWN_TIMEOUT": "1s",
		// info would log every request; Varnish and nginx run without an
		// access log too.
		"LOG_LEVEL": "warn",
	})
	if err != nil {
		return nil, err
	}
	varnish, err := startVarnish(all, dir, bins.varnishd, varnishAddr, originAddr)
	if err != nil {
		return nil, err
	}
	nginx, err := startNginx(all, dir, cacheDir, bins.nginx, nginxAddr, originAddr)
	if err != nil {
		return nil, err
	}

	xCacheHit := func(h http.Header) bool { return h.Get("X-Cache") == "HIT" }
	targets := []*target{
		{name: "edge (ours)", base: "http://" + edgeAddr, owner: edge, isHit: xCacheHit},
		{name: "Varnish", base: "http://" + varnishAddr, owner: varnish, isHit: func(h http.Header) bool {
			return len(strings.Fields(h.Get("X-Varnish"))) == 2 // a hit names the request that stored it too
		}},
		{name: "nginx proxy_cache", base: "http://" + nginxAddr, owner: nginx, isHit: xCacheHit},
	}
	for _, t := range targets {
		if err := t.owner.WaitHTTP(ctx, t.base+objects[0].path, 20*time.Second); err != nil {
			return nil, err
		}
		for _, obj := range objects {
			if err := fill(ctx, t, obj.path); err != nil {
				return nil, err
			}
		}
	}
	return targets, nil
}

// measureObjects measures every target on every object in interleaved
// rounds, and returns one table per object, the targets in their order.
func measureObjects(ctx context.Context, opts bench.Options, targets []*target, o *origin, progress func(string, ...any)) ([]objectTable, error) {
	type job struct {
		t    *target
		path string
	}
	var jobs []job
	for _, obj := range objects {
		for _, t := range targets {
			jobs = append(jobs, job{t, obj.path})
		}
	}
	originRequests := func(context.Context) (int64, error) { return o.requests.Load(), nil }
	rounds, err := bench.Interleave(ctx, opts, len(jobs), func(round int) {
		if round == 0 {
			progress("warming up each target for %s per object", opts.Warmup)
		} else {
			progress("round %d of %d (%d targets x %d objects x %s)", round, opts.Rounds, len(targets), len(objects), opts.Duration)
		}
	}, func(ctx context.Context, i int, d time.Duration) (bench.Measurement, error) {
		j := jobs[i]
		// Each child leads its own process group: its pid is the group's.
		m, err := bench.Measure(ctx, bench.Target{URL: j.t.base + j.path, PGID: j.t.owner.Pid(), Counter: originRequests}, opts.Concurrency, d)
		if err != nil {
			return m, fmt.Errorf("%s: %w", j.t.name, err)
		}
		return m, nil
	})
	if err != nil {
		return nil, err
	}
	var tables []objectTable
	for _, obj := range objects {
		tb := objectTable{object: obj.name}
		for i, j := range jobs {
			if j.path == obj.path {
				tb.rows = append(tb.rows, bench.Summarize(j.t.name, rounds[i]))
			}
		}
		tables = append(tables, tb)
	}
	return tables, nil
}

// fill asks a target for an object until it answers from its cache (the
// first request is a miss; Varnish and nginx may need a second one).
func fill(ctx context.Context, t *target, path string) error {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	for range 5 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.base+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("%s %s: %w", t.name, path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s %s: status %d", t.name, path, resp.StatusCode)
		}
		if t.isHit(resp.Header) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s %s: still not a cache hit after 5 requests: the comparison would not measure hits", t.name, path)
}

// tmpfsDir is /dev/shm when it is a writable directory, else the default
// temporary directory.
func tmpfsDir() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if f, err := os.CreateTemp("/dev/shm", "benchedge-probe-"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "/dev/shm"
		}
	}
	return os.TempDir()
}
