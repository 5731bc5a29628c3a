//go:build containers

package integration

// The load balancer's promises under failure, checked on containers: the
// lb image in front of api replicas (GET / needs neither Redis nor the
// shards, so the replicas are started without them), and replicas killed,
// frozen, added and removed while a steady load runs through the lb.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
)

// replica starts an api container on nw under the given aliases (the first
// is its INSTANCE_ID, which it names in X-Served-By).
func replica(t *testing.T, nw *testcontainers.DockerNetwork, aliases ...string) testcontainers.Container {
	t.Helper()
	ctr, err := testcontainers.Run(context.Background(), image("api"),
		testcontainers.WithEnv(map[string]string{
			"LISTEN_ADDR": ":8080", "ADMIN_ADDR": ":9100", "LOG_LEVEL": "warn",
			"INSTANCE_ID": aliases[0],
			"REDIS_URL":   "redis://redis.invalid:6379/0",
			"SHARD_DSNS":  "postgres://u:p@pg.invalid:5432/users",
		}),
		testcontainers.WithExposedPorts("8080/tcp", "9100/tcp"),
		network.WithNetwork(aliases, nw),
		testcontainers.WithWaitStrategyAndDeadline(time.Minute,
			wait.ForHTTP("/healthz").WithPort("9100/tcp").WithStatusCodeMatcher(func(s int) bool { return s == 200 })),
	)
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatalf("start replica %s: %v", aliases[0], err)
	}
	return ctr
}

// docker runs a docker CLI verb (kill, pause, unpause) on a container:
// testcontainers has no verb for freezing a process or for killing it
// without a clean shutdown, which are the failures these tests are about.
func docker(t *testing.T, verb string, ctr testcontainers.Container) {
	t.Helper()
	if out, err := exec.Command("docker", verb, ctr.GetContainerID()).CombinedOutput(); err != nil {
		t.Fatalf("docker %s: %v: %s", verb, err, out)
	}
}

// load sends GETs through the lb from a few workers until stopped, and
// records who served each one and every failure. Every answer is signalled
// (changed): tests wait on the load's own progress, and a window of the
// load is a number of answers, never a stretch of the clock.
type load struct {
	url      string
	stop     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	changed  *sync.Cond
	served   []string // X-Served-By of each success, in completion order
	failures []string
	requests atomic.Int64
}

func startLoad(lbURL string, workers int) *load {
	l := &load{url: lbURL, stop: make(chan struct{})}
	l.changed = sync.NewCond(&l.mu)
	client := &http.Client{Timeout: 30 * time.Second}
	for range workers {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				l.requests.Add(1)
				resp, err := client.Get(l.url + "/")
				if err != nil {
					l.fail(err.Error())
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					l.fail(fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(body))))
					continue
				}
				l.mu.Lock()
				l.served = append(l.served, resp.Header.Get("X-Served-By"))
				l.changed.Broadcast()
				l.mu.Unlock()
				// Paced, not flat out: the machine runs the replicas too.
				select {
				case <-l.stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		})
	}
	return l
}

func (l *load) fail(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, msg)
	l.changed.Broadcast()
}

// mark returns how many successes have been recorded so far.
func (l *load) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.served)
}

// since counts, by replica, the successes recorded after mark m.
func (l *load) since(m int) map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for _, s := range l.served[m:] {
		out[s]++
	}
	return out
}

func (l *load) finish(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	t.Logf("%d requests, %d failed", l.requests.Load(), len(l.failures))
	if len(l.failures) > 0 {
		t.Errorf("%d of %d requests failed, want none; first: %s", len(l.failures), l.requests.Load(), l.failures[0])
	}
}

// waitFor waits until cond, called under the load's lock after each
// answer, holds, up to limit; it reports how long that took. cond sees the
// successes so far.
func (l *load) waitFor(limit time.Duration, cond func(served []string) bool) (time.Duration, bool) {
	start := time.Now()
	expired := false
	timer := time.AfterFunc(limit, func() {
		l.mu.Lock()
		expired = true
		l.changed.Broadcast()
		l.mu.Unlock()
	})
	defer timer.Stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for !cond(l.served) {
		if expired {
			return time.Since(start), false
		}
		l.changed.Wait()
	}
	return time.Since(start), true
}

// window waits for the next n successes, up to limit, and counts them by
// replica (nil when they did not come).
func (l *load) window(limit time.Duration, n int) map[string]int {
	m := l.mark()
	if _, ok := l.waitFor(limit, func(served []string) bool { return len(served) >= m+n }); !ok {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for _, s := range l.served[m : m+n] {
		out[s]++
	}
	return out
}

// windowWhere waits, up to limit, for a window of n successes for which
// ok holds, looking at one window after another.
func (l *load) windowWhere(limit time.Duration, n int, ok func(map[string]int) bool) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < limit {
		got := l.window(limit-time.Since(start), n)
		if got == nil {
			break
		}
		if ok(got) {
			return time.Since(start), true
		}
	}
	return time.Since(start), false
}

// A replica killed under a steady load costs no client request (the lb
// retries a GET whose backend refused on another one), leaves the rotation
// once the health checks see it down, and comes back after it restarts.
func TestLBKilledBackendUnderLoadFailsNothing(t *testing.T) {
	nw := newNetwork(t)
	replica(t, nw, "api-a")
	b := replica(t, nw, "api-b")
	replica(t, nw, "api-c")
	lb := startService(t, nw, "lb", "lb", "/readyz", map[string]string{
		"LB_BACKENDS":        "http://api-a:8080,http://api-b:8080,http://api-c:8080",
		"LB_HEALTH_INTERVAL": "500ms", "LB_HEALTH_TIMEOUT": "300ms", "LB_HEALTH_FALL": "2", "LB_HEALTH_RISE": "2",
	})
	l := startLoad(lb, 4)
	if got := l.window(20*time.Second, 60); got["api-b"] == 0 {
		t.Fatalf("before the kill api-b served nothing of 60 requests: %v", got)
	}

	docker(t, "kill", b)
	// Out of rotation: a window of the load in which api-b served nothing.
	took, ok := l.windowWhere(10*time.Second, 40, func(got map[string]int) bool {
		return got["api-b"] == 0 && got["api-a"] > 0 && got["api-c"] > 0
	})
	if !ok {
		t.Errorf("10 s after the kill api-b still gets traffic")
	}
	t.Logf("api-b left the rotation %v after the kill", took.Round(100*time.Millisecond))

	if err := b.Start(context.Background()); err != nil {
		t.Fatalf("restart api-b: %v", err)
	}
	m := l.mark()
	took, ok = l.waitFor(30*time.Second, func(served []string) bool { return slices.Contains(served[m:], "api-b") })
	if !ok {
		t.Errorf("30 s after api-b restarted it gets no traffic")
	}
	t.Logf("api-b back in the rotation %v after its restart", took.Round(100*time.Millisecond))
	l.finish(t)
}

// A replica that hangs (frozen: it accepts connections and never answers)
// costs a request at most about the per-try timeout: the lb gives up on it
// and retries elsewhere, and its health checks take it out of rotation.
func TestLBPausedBackendCostsAtMostTheTryTimeout(t *testing.T) {
	nw := newNetwork(t)
	replica(t, nw, "api-a")
	b := replica(t, nw, "api-b")
	const try = time.Second
	lb := startService(t, nw, "lb", "lb", "/readyz", map[string]string{
		"LB_BACKENDS":    "http://api-a:8080,http://api-b:8080",
		"LB_TRY_TIMEOUT": try.String(), "LB_HEALTH_INTERVAL": "500ms", "LB_HEALTH_TIMEOUT": "300ms",
	})
	docker(t, "pause", b)
	defer docker(t, "unpause", b)

	var slowest time.Duration
	for i := range 10 {
		start := time.Now()
		resp, body := get(t, lb+"/")
		took := time.Since(start)
		slowest = max(slowest, took)
		if resp.StatusCode != 200 || resp.Header.Get("X-Served-By") != "api-a" {
			t.Errorf("request %d: %d from %q: %s", i, resp.StatusCode, resp.Header.Get("X-Served-By"), body)
		}
	}
	t.Logf("slowest of 10 requests with api-b frozen: %v (try timeout %v)", slowest.Round(time.Millisecond), try)
	// A bound, not a benchmark: a try that waited out the timeout, then a
	// retry; three times the timeout is far from both the limit and noise.
	if slowest > 3*try {
		t.Errorf("a request took %v with one backend frozen; the per-try timeout is %v", slowest, try)
	}
}

// `docker compose up --scale api=N`, as containers sharing one DNS alias:
// the lb, given dns://api:8080, finds a replica that joins and stops
// sending to one that leaves, without a failed request.
func TestLBFollowsScaleThroughDNS(t *testing.T) {
	nw := newNetwork(t)
	first := replica(t, nw, "api-1", "api")
	lb := startService(t, nw, "lb", "lb", "/readyz", map[string]string{
		"LB_BACKENDS": "dns://api:8080", "LB_DNS_REFRESH": "200ms",
		"LB_HEALTH_INTERVAL": "500ms", "LB_HEALTH_TIMEOUT": "300ms",
	})
	l := startLoad(lb, 2)
	replica(t, nw, "api-2", "api")
	m := l.mark()
	if took, ok := l.waitFor(15*time.Second, func(served []string) bool { return slices.Contains(served[m:], "api-2") }); !ok {
		t.Errorf("15 s after api-2 joined the alias it gets no traffic")
	} else {
		t.Logf("scale up followed in %v", took.Round(100*time.Millisecond))
	}

	if err := first.Stop(context.Background(), nil); err != nil {
		t.Fatalf("stop api-1: %v", err)
	}
	took, ok := l.windowWhere(15*time.Second, 30, func(got map[string]int) bool {
		return got["api-1"] == 0 && got["api-2"] > 0
	})
	if !ok {
		t.Errorf("15 s after api-1 stopped it still gets traffic")
	}
	t.Logf("scale down followed in %v", took.Round(100*time.Millisecond))
	l.finish(t)
}

// rawExchange sends raw bytes to the lb and returns the status line of its
// answer, or the read error (a closed connection is io.EOF).
func rawExchange(t *testing.T, lbURL, request string) (string, error) {
	t.Helper()
	u, _ := url.Parse(lbURL)
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatalf("dial lb: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatalf("write: %v", err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimSpace(line), err
}

// Requests shaped for smuggling (a body whose length two headers disagree
// on, a transfer coding other than chunked, a malformed header name) are
// refused at the lb and never reach a backend. (This is the default engine,
// `fast`; through net/http, Content-Length with chunked Transfer-Encoding is
// re-framed rather than refused: see docs/lb.md.)
func TestLBRefusesSmugglingShapedRequests(t *testing.T) {
	nw := newNetwork(t)
	backend := replica(t, nw, "api-a")
	lb := startService(t, nw, "lb", "lb", "/readyz", map[string]string{"LB_BACKENDS": "http://api-a:8080"})
	cases := map[string]string{
		"Content-Length and Transfer-Encoding": "POST /users HTTP/1.1\r\nHost: lb\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
		"two different Content-Lengths":        "POST /users HTTP/1.1\r\nHost: lb\r\nContent-Length: 6\r\nContent-Length: 5\r\n\r\nhello!",
		"two Transfer-Encodings":               "POST /users HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
		"a coding other than chunked":          "POST /users HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		"space before the colon":               "POST /users HTTP/1.1\r\nHost: lb\r\nContent-Length : 5\r\n\r\nhello",
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			line, err := rawExchange(t, lb, req)
			if line == "" {
				t.Fatalf("no answer: %v", err)
			}
			if f := strings.Fields(line); len(f) < 2 || (f[1] != "400" && f[1] != "501") {
				t.Errorf("status line %q, want 400 or 501", line)
			}
		})
	}
	// None reached the backend: it counted no POST at all.
	admin, err := backend.PortEndpoint(context.Background(), "9100/tcp", "http")
	if err != nil {
		t.Fatal(err)
	}
	_, metrics := get(t, admin+"/metrics")
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "scalelab_api_http_requests_total{") && strings.Contains(line, `method="POST"`) {
			t.Errorf("the backend saw a POST: %s", line)
		}
	}
}

// A client that sends half a request and stops is cut off within seconds,
// rather than holding a connection (and a goroutine) for as long as it likes.
func TestLBCutsOffSlowClient(t *testing.T) {
	nw := newNetwork(t)
	replica(t, nw, "api-a")
	lb := startService(t, nw, "lb", "lb", "/readyz", map[string]string{"LB_BACKENDS": "http://api-a:8080"})
	start := time.Now()
	line, err := rawExchange(t, lb, "GET / HTTP/1.1\r\nHost: lb\r\nX-Slow: ")
	took := time.Since(start)
	t.Logf("half-sent request: %q %v after %v", line, err, took.Round(100*time.Millisecond))
	if err == nil && !strings.Contains(line, "408") {
		t.Errorf("half-sent request answered %q, want the connection closed (or 408)", line)
	}
	if took >= 30*time.Second {
		t.Errorf("half-sent request held for %v", took)
	}
}

// Routes reloaded on SIGHUP under a steady load drop nothing: the table is
// swapped whole, so requests go to the new pool from the signal on, and a
// broken file is refused while the running table keeps serving.
func TestLBReloadsRoutesOnSIGHUPUnderLoad(t *testing.T) {
	nw := newNetwork(t)
	replica(t, nw, "api-a")
	replica(t, nw, "api-b")
	routes := func(backend string) string {
		return `{"pools": {"main": {"backends": "http://` + backend + `:8080"}}, "routes": [{"prefix": "/", "pool": "main"}]}`
	}
	const path = "/etc/scalelab/routes.json"
	lb := startLab(t, nw, "lb", "lb", map[string]string{"LB_ROUTES_FILE": path, "LB_ROUTES_POLL": "0"},
		configFile(path, routes("api-a")))
	l := startLoad(lb.url, 4)
	reload := func(content string) {
		t.Helper()
		if err := lb.ctr.CopyToContainer(context.Background(), []byte(content), path, 0o644); err != nil {
			t.Fatalf("copy routes: %v", err)
		}
		if out, err := exec.Command("docker", "kill", "-s", "HUP", lb.ctr.GetContainerID()).CombinedOutput(); err != nil {
			t.Fatalf("SIGHUP: %v: %s", err, out)
		}
	}
	only := func(who string) func(map[string]int) bool {
		return func(got map[string]int) bool { return len(got) == 1 && got[who] > 0 }
	}
	if _, ok := l.windowWhere(5*time.Second, 30, only("api-a")); !ok {
		t.Fatalf("before the reload: %v, want api-a only", l.since(0))
	}
	reload(routes("api-b"))
	if took, ok := l.windowWhere(10*time.Second, 30, only("api-b")); !ok {
		t.Errorf("10 s after SIGHUP with a new pool, traffic is not on api-b only")
	} else {
		t.Logf("new routes served %v after SIGHUP", took.Round(100*time.Millisecond))
	}
	reload(`{"pools": {"main": {"backends": "http://api-a:8080"}}, "routes": [{"prefix": "/", "pool": "nowhere"}]}`)
	// The refusal is counted once the lb has read the file: between looks
	// at the count, the load goes on (20 more answers), so the check
	// waits on the lb's progress, not on the clock.
	const refused = `scalelab_lb_config_reloads_total{result="failure"} 1`
	var metrics string
	for range 50 {
		if _, metrics = get(t, lb.admin+"/metrics"); strings.Contains(metrics, refused) {
			break
		}
		l.window(10*time.Second, 20)
	}
	if !strings.Contains(metrics, refused) {
		t.Errorf("the refused reload is not counted:\n%s", grepLines(metrics, "scalelab_lb_config_reloads_total"))
	}
	if got := l.window(10*time.Second, 30); !only("api-b")(got) {
		t.Errorf("after a broken file, traffic moved: %v", got)
	}
	l.finish(t)
}

func grepLines(text, prefix string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
