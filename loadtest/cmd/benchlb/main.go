// Command benchlb (`make bench-lb`) measures the load balancer against the
// proxies users run in production, in one run on one machine: requests per
// second, p50 and p99 of GET / through
//
//   - our lb in L7 mode and in L4 mode (one process, both listeners), with
//     the std engine (LB_ENGINE=std, net/http), and in L7 mode again with
//     the fast path (LB_ENGINE=fast, a second process),
//   - nginx with an upstream keepalive pool,
//   - HAProxy in http mode with connection reuse, and in tcp mode,
//   - and straight to one backend: the ceiling.
//
// Every balancer spreads over the same two backends (round robin). The
// backends are this binary started again as child processes
// (`benchlb backend ...`), and count the connections they accept, which
// gives upstream connections opened per request. Targets are measured in
// turn, several rounds, the order rotated each round, so a slow minute on
// a shared machine lands on all of them rather than on one.
//
// The numbers are printed, never judged: the load generator, the balancers
// and the backends share the same few cores, so absolute figures say as much
// about the machine as about the code. Compare the ratios.
//
// nginx and HAProxy come from Debian's packages (apt-get install
// nginx-light haproxy); without them benchlb stops and says so.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"scalelab/loadtest/internal/loadgen"
	"scalelab/loadtest/internal/proc"
)

// runCap bounds the whole program, setup included.
const runCap = 10 * time.Minute

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "backend" {
		if err := serveBackend(ctx, os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "benchlb backend: %v\n", err)
			os.Exit(1)
		}
		return
	}
	go func() { <-ctx.Done(); stop() }()
	start := time.Now()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err != nil && ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "benchlb: interrupted; every process it started is stopped")
		os.Exit(130)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchlb: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("\nbenchlb took %s in all\n", time.Since(start).Round(time.Second))
}

// options are the command line flags.
type options struct {
	concurrency int
	duration    time.Duration
	rounds      int
	warmup      time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("benchlb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.concurrency, "c", 32, "concurrent keep-alive connections of the load generator")
	fs.DurationVar(&o.duration, "d", 3*time.Second, "length of one measurement")
	fs.IntVar(&o.rounds, "rounds", 3, "measurements per target, interleaved")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load per target before the first round")
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

// target is one way to reach the backends.
type target struct {
	name   string
	url    string
	pgid   int // process group of the balancer, for its CPU time; 0 for direct
	rounds []measurement
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, runCap)
	defer cancel()
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, "benchlb: "+format+"\n", args...) }

	nginxBin, haproxyBin, err := findPeers(execLookPath, "/usr/sbin")
	if err != nil {
		return err
	}
	root, err := proc.WorkspaceRoot(".")
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "benchlb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	progress("building the lb")
	lbBin, err := proc.Build(ctx, root, tmp, "services/lb/cmd/lb")
	if err != nil {
		return err
	}

	var all proc.Group
	defer func() { all.Stop() }()
	addrs, err := proc.FreeAddrs(12)
	if err != nil {
		return err
	}
	backendAddrs, backendAdmins := addrs[0:2], addrs[2:4]
	lbHTTP, lbAdmin, lbL4, nginxAddr, haproxyHTTP, haproxyTCP := addrs[4], addrs[5], addrs[6], addrs[7], addrs[8], addrs[9]
	lbFastHTTP, lbFastAdmin := addrs[10], addrs[11]

	progress("starting 2 backends, the lb, nginx and HAProxy on 127.0.0.1")
	var backendURLs []string
	for i, a := range backendAddrs {
		name := fmt.Sprintf("backend-%d", i+1)
		p, err := proc.Start(name, tmp, self, []string{"backend", name, a, backendAdmins[i]}, nil)
		if err != nil {
			return err
		}
		all = append(all, p)
		if err := p.WaitHTTP(ctx, "http://"+a+"/", 10*time.Second); err != nil {
			return err
		}
		backendURLs = append(backendURLs, "http://"+a)
	}

	lb, err := proc.Start("lb", tmp, lbBin, nil, map[string]string{
		"LB_BACKENDS":    strings.Join(backendURLs, ","),
		"LISTEN_ADDR":    lbHTTP,
		"ADMIN_ADDR":     lbAdmin,
		"L4_LISTEN_ADDR": lbL4,
		"LB_ENGINE":      "std",
		// info would write an access log line per request; nginx and
		// HAProxy run without one too.
		"LOG_LEVEL": "warn",
	})
	if err != nil {
		return err
	}
	all = append(all, lb)
	// The fast path in a process of its own, so that its CPU time is its own.
	lbFast, err := proc.Start("lb-fast", tmp, lbBin, nil, map[string]string{
		"LB_BACKENDS": strings.Join(backendURLs, ","),
		"LISTEN_ADDR": lbFastHTTP,
		"ADMIN_ADDR":  lbFastAdmin,
		"LB_ENGINE":   "fast",
		"LOG_LEVEL":   "warn",
	})
	if err != nil {
		return err
	}
	all = append(all, lbFast)

	nginxConf := filepath.Join(tmp, "nginx.conf")
	if err := os.WriteFile(nginxConf, []byte(nginxConfig(tmp, nginxAddr, backendAddrs)), 0o644); err != nil {
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

	haproxyConf := filepath.Join(tmp, "haproxy.cfg")
	if err := os.WriteFile(haproxyConf, []byte(haproxyConfig(haproxyHTTP, haproxyTCP, backendAddrs)), 0o644); err != nil {
		return err
	}
	if err := checkConfig(haproxyBin, "-c", "-q", "-f", haproxyConf); err != nil {
		return err
	}
	haproxy, err := proc.Start("haproxy", tmp, haproxyBin, []string{"-db", "-f", haproxyConf}, nil)
	if err != nil {
		return err
	}
	all = append(all, haproxy)

	targets := []*target{
		{name: "direct (backend-1)", url: "http://" + backendAddrs[0] + "/"},
		{name: "lb L7 std", url: "http://" + lbHTTP + "/"},
		{name: "lb L7 fast", url: "http://" + lbFastHTTP + "/"},
		{name: "nginx (keepalive)", url: "http://" + nginxAddr + "/"},
		{name: "HAProxy http (reuse)", url: "http://" + haproxyHTTP + "/"},
		{name: "lb L4", url: "http://" + lbL4 + "/"},
		{name: "HAProxy tcp", url: "http://" + haproxyTCP + "/"},
	}
	owner := map[string]*proc.Proc{"lb L7 std": lb, "lb L7 fast": lbFast, "lb L4": lb, "nginx (keepalive)": nginx, "HAProxy http (reuse)": haproxy, "HAProxy tcp": haproxy}
	for _, t := range targets {
		if p := owner[t.name]; p != nil {
			if err := p.WaitHTTP(ctx, t.url, 15*time.Second); err != nil {
				return err
			}
			t.pgid = p.Pid() // each child leads its own process group
		}
	}

	machine := fmt.Sprintf("Machine: %d CPUs, %s %s/%s%s; %s; %s. Load generator (Go net/http client, c=%d keep-alive connections), "+
		"balancers and backends share these CPUs over loopback.",
		runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, loadAverage(),
		toolVersion(nginxBin, "-v"), toolVersion(haproxyBin, "-v"), opts.concurrency)
	fmt.Fprintln(stdout, machine)

	if opts.warmup > 0 {
		progress("warming up each target for %s", opts.warmup)
		for _, t := range targets {
			if _, err := measure(ctx, t, opts.concurrency, opts.warmup, backendAdmins); err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
		}
	}
	for r := range opts.rounds {
		progress("round %d of %d (%d targets x %s)", r+1, opts.rounds, len(targets), opts.duration)
		for i := range targets {
			t := targets[(i+r)%len(targets)] // rotate the order each round
			m, err := measure(ctx, t, opts.concurrency, opts.duration, backendAdmins)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			t.rounds = append(t.rounds, m)
		}
	}

	rows := make([]row, len(targets))
	for i, t := range targets {
		rows[i] = summarize(t.name, t.rounds)
	}
	printReport(stdout, rows, opts)
	progress("stopping every process it started")
	return nil
}

// measurement is one closed-loop run against one target.
type measurement struct {
	requests, errors int
	elapsed          time.Duration
	p50, p99         time.Duration
	upstreamConns    int64         // connections the backends accepted meanwhile
	proxyCPU         time.Duration // CPU time the balancer's processes used meanwhile; -1 if unknown
}

// measure runs the load generator against t for d and counts the
// connections the backends accepted and the CPU time the balancer used
// meanwhile.
func measure(ctx context.Context, t *target, c int, d time.Duration, backendAdmins []string) (measurement, error) {
	before, err := sumConns(ctx, backendAdmins)
	if err != nil {
		return measurement{}, err
	}
	cpuBefore, cpuErr := time.Duration(0), error(nil)
	if t.pgid != 0 {
		cpuBefore, cpuErr = proc.GroupCPU(t.pgid)
	}
	cfg := loadgen.DefaultConfig()
	cfg.URLs = []string{t.url}
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
	after, err := sumConns(ctx, backendAdmins)
	if err != nil {
		return measurement{}, err
	}
	proxyCPU := time.Duration(-1)
	if t.pgid != 0 && cpuErr == nil {
		if cpuAfter, err := proc.GroupCPU(t.pgid); err == nil {
			proxyCPU = cpuAfter - cpuBefore
		}
	}
	msd := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	return measurement{
		proxyCPU:      proxyCPU,
		requests:      rep.Requests,
		errors:        rep.Errors,
		elapsed:       time.Duration(rep.ElapsedSec * float64(time.Second)),
		p50:           msd(rep.LatencyMillis.P50),
		p99:           msd(rep.LatencyMillis.P99),
		upstreamConns: after - before,
	}, nil
}

func sumConns(ctx context.Context, admins []string) (int64, error) {
	var sum int64
	for _, a := range admins {
		n, err := backendConns(ctx, a)
		if err != nil {
			return 0, fmt.Errorf("reading a backend's connection count: %w", err)
		}
		sum += n
	}
	return sum, nil
}

// loadAverage is ", load average 0.42 before measuring" on Linux.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return ", load average " + f[0] + " before measuring"
	}
	return ""
}
