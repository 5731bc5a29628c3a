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
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"scalelab/loadtest/internal/loadgen"
	"scalelab/loadtest/internal/proc"
)

// runCap bounds the whole program, setup included.
const runCap = 10 * time.Minute

// cacheBytes is every cache's memory budget.
const cacheBytes = 256 << 20

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err != nil && ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "benchedge: interrupted; every process it started is stopped")
		os.Exit(130)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchedge: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("\nbenchedge took %s in all\n", time.Since(start).Round(time.Second))
}

// options are the command line flags.
type options struct {
	concurrency int
	duration    time.Duration
	rounds      int
	warmup      time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("benchedge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.concurrency, "c", 32, "concurrent keep-alive connections of the load generator")
	fs.DurationVar(&o.duration, "d", 3*time.Second, "length of one measurement")
	fs.IntVar(&o.rounds, "rounds", 3, "measurements per target and object, interleaved")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load per target and object before the first round")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.concurrency < 1 || o.concurrency > loadgen.MaxConcurrency:
		return o, fmt.Errorf("-c must be between 1 and %d", loadgen.MaxConcurrency)
	case o.duration < 100*time.Millisecond || o.duration > time.Minute:
		return o, fmt.Errorf("-d must be between 100ms and 1m")
	case o.rounds < 1 || o.rounds > 20:
		return o, fmt.Errorf("-rounds must be between 1 and 20")
	case o.warmup < 0 || o.warmup > time.Minute:
		return o, fmt.Errorf("-warmup must be between 0 and 1m")
	}
	return o, nil
}

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
	name   string
	base   string // http://addr
	pgid   int    // process group of the cache, for its CPU time
	isHit  func(h http.Header) bool
	rounds map[string][]measurement // by object path
}

// origin serves the objects and counts the requests it gets.
type origin struct {
	requests atomic.Int64
	bodies   map[string][]byte
}

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
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, runCap)
	defer cancel()
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, "benchedge: "+format+"\n", args...) }

	varnishBin, nginxBin, err := findPeers(execLookPath, "/usr/sbin")
	if err != nil {
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
	// nginx's cache lives in files: on a tmpfs they are memory too, as the
	// other two caches' objects are.
	cacheDir, err := os.MkdirTemp(tmpfsDir(), "benchedge-nginx-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cacheDir)
	// nginx's workers write it, and run as another user when started by root.
	if err := os.Chmod(cacheDir, 0o777); err != nil {
		return err
	}

	progress("building the edge")
	edgeBin, err := proc.Build(ctx, root, tmp, "services/edge/cmd/edge")
	if err != nil {
		return err
	}

	addrs, err := proc.FreeAddrs(4)
	if err != nil {
		return err
	}
	edgeAddr, edgeAdmin, varnishAddr, nginxAddr := addrs[0], addrs[1], addrs[2], addrs[3]

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
		return err
	}
	srv := &http.Server{Handler: o, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	originAddr := ln.Addr().String()

	var all proc.Group
	defer func() { all.Stop() }()
	progress("starting the edge, Varnish and nginx on 127.0.0.1 in front of an origin on %s", originAddr)
	edge, err := proc.Start("edge", tmp, edgeBin, nil, map[string]string{
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
		return err
	}
	all = append(all, edge)

	vcl, err := varnishVCL(originAddr)
	if err != nil {
		return err
	}
	vclPath := filepath.Join(tmp, "bench.vcl")
	if err := os.WriteFile(vclPath, []byte(vcl), 0o644); err != nil {
		return err
	}
	varnish, err := proc.Start("varnish", tmp, varnishBin, varnishArgs(tmp, varnishAddr, vclPath, cacheBytes), nil)
	if err != nil {
		return err
	}
	all = append(all, varnish)

	nginxConf := filepath.Join(tmp, "nginx.conf")
	if err := os.WriteFile(nginxConf, []byte(nginxConfig(tmp, cacheDir, nginxAddr, originAddr, cacheBytes)), 0o644); err != nil {
		return err
	}
	nginxArgs := []string{"-p", tmp, "-e", filepath.Join(tmp, "nginx-error.log"), "-c", nginxConf}
	if err := checkConfig(nginxBin, append(nginxArgs, "-t", "-q")...); err != nil {
		return err
	}
	nginx, err := proc.Start("nginx", tmp, nginxBin, append(nginxArgs, "-g", "daemon off;"), nil)
	if err != nil {
		return err
	}
	all = append(all, nginx)

	targets := []*target{
		{name: "edge (ours)", base: "http://" + edgeAddr, isHit: func(h http.Header) bool { return h.Get("X-Cache") == "HIT" }},
		{name: "Varnish", base: "http://" + varnishAddr, isHit: func(h http.Header) bool {
			return len(strings.Fields(h.Get("X-Varnish"))) == 2 // a hit names the request that stored it too
		}},
		{name: "nginx proxy_cache", base: "http://" + nginxAddr, isHit: func(h http.Header) bool { return h.Get("X-Cache") == "HIT" }},
	}
	owner := map[string]*proc.Proc{"edge (ours)": edge, "Varnish": varnish, "nginx proxy_cache": nginx}
	for _, t := range targets {
		p := owner[t.name]
		if err := p.WaitHTTP(ctx, t.base+objects[0].path, 20*time.Second); err != nil {
			return err
		}
		t.pgid = p.Pid() // each child leads its own process group
		t.rounds = map[string][]measurement{}
		for _, obj := range objects {
			if err := fill(ctx, t, obj.path); err != nil {
				return err
			}
		}
	}

	machine := fmt.Sprintf("Machine: %d CPUs, %s %s/%s%s; %s; %s. Load generator (Go net/http client, c=%d keep-alive connections) "+
		"and caches share these CPUs over loopback; the origin runs inside the load generator and is not asked during the measurements.",
		runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, loadAverage(),
		toolVersion(varnishBin, "-V"), toolVersion(nginxBin, "-v"), opts.concurrency)
	fmt.Fprintln(stdout, machine)

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
	if opts.warmup > 0 {
		progress("warming up each target for %s per object", opts.warmup)
		for _, j := range jobs {
			if _, err := measure(ctx, j.t, j.path, opts.concurrency, opts.warmup, o); err != nil {
				return fmt.Errorf("%s: %w", j.t.name, err)
			}
		}
	}
	for r := range opts.rounds {
		progress("round %d of %d (%d targets x %d objects x %s)", r+1, opts.rounds, len(targets), len(objects), opts.duration)
		for i := range jobs {
			j := jobs[(i+r)%len(jobs)] // rotate the order each round
			m, err := measure(ctx, j.t, j.path, opts.concurrency, opts.duration, o)
			if err != nil {
				return fmt.Errorf("%s: %w", j.t.name, err)
			}
			j.t.rounds[j.path] = append(j.t.rounds[j.path], m)
		}
	}

	var tables []objectTable
	for _, obj := range objects {
		tb := objectTable{object: obj.name}
		for _, t := range targets {
			tb.rows = append(tb.rows, summarize(t.name, t.rounds[obj.path]))
		}
		tables = append(tables, tb)
	}
	printReport(stdout, tables, opts)
	progress("stopping every process it started")
	return nil
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

// measurement is one closed-loop run against one target and object.
type measurement struct {
	requests, errors int
	elapsed          time.Duration
	p50, p99         time.Duration
	originRequests   int64         // requests that reached the origin meanwhile (0: all hits)
	cacheCPU         time.Duration // CPU time the cache's processes used meanwhile; -1 if unknown
}

func measure(ctx context.Context, t *target, path string, c int, d time.Duration, o *origin) (measurement, error) {
	cpuBefore, cpuErr := proc.GroupCPU(t.pgid)
	originBefore := o.requests.Load()
	cfg := loadgen.DefaultConfig()
	cfg.URLs = []string{t.base + path}
	cfg.N = loadgen.MaxRequests // the duration ends each run
	cfg.Concurrency = c
	cfg.Duration = d
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return measurement{}, err
	}
	if ctx.Err() != nil {
		return measurement{}, ctx.Err()
	}
	cacheCPU := time.Duration(-1)
	if cpuErr == nil {
		if cpuAfter, err := proc.GroupCPU(t.pgid); err == nil {
			cacheCPU = cpuAfter - cpuBefore
		}
	}
	msd := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	return measurement{
		requests:       rep.Requests,
		errors:         rep.Errors,
		elapsed:        time.Duration(rep.ElapsedSec * float64(time.Second)),
		p50:            msd(rep.LatencyMillis.P50),
		p99:            msd(rep.LatencyMillis.P99),
		originRequests: o.requests.Load() - originBefore,
		cacheCPU:       cacheCPU,
	}, nil
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

// loadAverage is ", load average 0.42 before measuring" on Linux.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return ", load average " + f[0] + " before measuring"
	}
	return ""
}
