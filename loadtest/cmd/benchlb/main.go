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
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"scalelab/loadtest/internal/bench"
	"scalelab/loadtest/internal/proc"
)

// runCap bounds the whole program, setup included.
const runCap = 10 * time.Minute

var command = bench.Command{Name: "benchlb", Stopped: "every process it started is stopped"}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "backend" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := serveBackend(ctx, os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "benchlb backend: %v\n", err)
			os.Exit(1)
		}
		return
	}
	command.Main(run)
}

// target is one way to reach the backends.
type target struct {
	name  string
	url   string
	owner *proc.Proc // the balancer's process; nil for direct
}

// pgid is the balancer's process group, for its CPU time (each child leads
// its own); 0 for direct.
func (t *target) pgid() int {
	if t.owner == nil {
		return 0
	}
	return t.owner.Pid()
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := bench.ParseFlags("benchlb", "per target", args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, runCap)
	defer cancel()
	progress := command.Progress(stderr)

	var bins binaries
	if bins.nginx, bins.haproxy, err = findPeers(execLookPath, "/usr/sbin"); err != nil {
		return err
	}
	root, err := proc.WorkspaceRoot(".")
	if err != nil {
		return err
	}
	if bins.self, err = os.Executable(); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "benchlb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	progress("building the lb")
	if bins.lb, err = proc.Build(ctx, root, tmp, "services/lb/cmd/lb"); err != nil {
		return err
	}

	var all proc.Group
	defer func() { all.Stop() }()
	progress("starting 2 backends, the lb, nginx and HAProxy on 127.0.0.1")
	targets, backendAdmins, err := startTargets(ctx, &all, tmp, bins)
	if err != nil {
		return err
	}

	fmt.Fprintf(stdout, "Machine: %d CPUs, %s %s/%s%s; %s; %s. Load generator (Go net/http client, c=%d keep-alive connections), "+
		"balancers and backends share these CPUs over loopback.\n",
		runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, bench.LoadAverage(),
		bench.ToolVersion(bins.nginx, "-v"), bench.ToolVersion(bins.haproxy, "-v"), opts.Concurrency)

	rows, err := measureTargets(ctx, opts, targets, backendAdmins, progress)
	if err != nil {
		return err
	}
	printReport(stdout, rows, opts)
	progress("stopping every process it started")
	return nil
}

// binaries are the programs benchlb runs: itself (as a backend), the lb,
// and the peers.
type binaries struct{ self, lb, nginx, haproxy string }

// startTargets starts two backends and every balancer over them, adds
// each process to all, and returns the targets once each answers, and the
// backends' admin addresses (their connection counts).
func startTargets(ctx context.Context, all *proc.Group, dir string, bins binaries) ([]*target, []string, error) {
	addrs, err := proc.FreeAddrs(12)
	if err != nil {
		return nil, nil, err
	}
	backendAddrs, backendAdmins := addrs[0:2], addrs[2:4]
	lbHTTP, lbAdmin, lbL4, nginxAddr, haproxyHTTP, haproxyTCP := addrs[4], addrs[5], addrs[6], addrs[7], addrs[8], addrs[9]
	lbFastHTTP, lbFastAdmin := addrs[10], addrs[11]

	backendURLs, err := startBackends(ctx, all, dir, bins.self, backendAddrs, backendAdmins)
	if err != nil {
		return nil, nil, err
	}
	lbEnv := func(engine, listen, admin string) map[string]string {
		return map[string]string{
			"LB_BACKENDS": strings.Join(backendURLs, ","),
			"LISTEN_ADDR": listen,
			"ADMIN_ADDR":  admin,
			"LB_ENGINE":   engine,
			// info would write an access log line per request; nginx and
			// HAProxy run without one too.
			"LOG_LEVEL": "warn",
		}
	}
	stdEnv := lbEnv("std", lbHTTP, lbAdmin)
	stdEnv["L4_LISTEN_ADDR"] = lbL4
	lb, err := all.Start("lb", dir, bins.lb, nil, stdEnv)
	if err != nil {
		return nil, nil, err
	}
	// The fast path in a process of its own, so that its CPU time is its own.
	lbFast, err := all.Start("lb-fast", dir, bins.lb, nil, lbEnv("fast", lbFastHTTP, lbFastAdmin))
	if err != nil {
		return nil, nil, err
	}

	nginx, err := startNginx(all, dir, bins.nginx, nginxAddr, backendAddrs)
	if err != nil {
		return nil, nil, err
	}
	haproxy, err := startHAProxy(all, dir, bins.haproxy, haproxyHTTP, haproxyTCP, backendAddrs)
	if err != nil {
		return nil, nil, err
	}

	targets := []*target{
		{name: "direct (backend-1)", url: "http://" + backendAddrs[0] + "/"},
		{name: "lb L7 std", url: "http://" + lbHTTP + "/", owner: lb},
		{name: "lb L7 fast", url: "http://" + lbFastHTTP + "/", owner: lbFast},
		{name: "nginx (keepalive)", url: "http://" + nginxAddr + "/", owner: nginx},
		{name: "HAProxy http (reuse)", url: "http://" + haproxyHTTP + "/", owner: haproxy},
		{name: "lb L4", url: "http://" + lbL4 + "/", owner: lb},
		{name: "HAProxy tcp", url: "http://" + haproxyTCP + "/", owner: haproxy},
	}
	for _, t := range targets {
		if t.owner != nil {
			if err := t.owner.WaitHTTP(ctx, t.url, 15*time.Second); err != nil {
				return nil, nil, err
			}
		}
	}
	return targets, backendAdmins, nil
}

// startBackends starts benchlb itself as a backend on each address, and
// returns their URLs once each answers.
func startBackends(ctx context.Context, all *proc.Group, dir, self string, addrs, admins []string) ([]string, error) {
	var urls []string
	for i, a := range addrs {
		name := fmt.Sprintf("backend-%d", i+1)
		p, err := all.Start(name, dir, self, []string{"backend", name, a, admins[i]}, nil)
		if err != nil {
			return nil, err
		}
		if err := p.WaitHTTP(ctx, "http://"+a+"/", 10*time.Second); err != nil {
			return nil, err
		}
		urls = append(urls, "http://"+a)
	}
	return urls, nil
}

// measureTargets measures every target in interleaved rounds and returns
// their summaries, in the targets' order.
func measureTargets(ctx context.Context, opts bench.Options, targets []*target, backendAdmins []string, progress func(string, ...any)) ([]row, error) {
	counter := func(ctx context.Context) (int64, error) { return sumConns(ctx, backendAdmins) }
	rounds, err := bench.Interleave(ctx, opts, len(targets), func(round int) {
		if round == 0 {
			progress("warming up each target for %s", opts.Warmup)
		} else {
			progress("round %d of %d (%d targets x %s)", round, opts.Rounds, len(targets), opts.Duration)
		}
	}, func(ctx context.Context, i int, d time.Duration) (bench.Measurement, error) {
		t := targets[i]
		m, err := bench.Measure(ctx, bench.Target{URL: t.url, PGID: t.pgid(), Counter: counter}, opts.Concurrency, d)
		if err != nil {
			return m, fmt.Errorf("%s: %w", t.name, err)
		}
		return m, nil
	})
	if err != nil {
		return nil, err
	}
	rows := make([]row, len(targets))
	for i, t := range targets {
		rows[i] = summarize(t.name, rounds[i])
	}
	return rows, nil
}

// sumConns is the connections the backends have accepted so far.
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
