package stack

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTour walks README.md's "Try it" as a new user would, on the shared
// stack: every command of the tour, in order, as written, through bash, from
// the repository's folder. Plain compose commands get only a user's shell
// environment (no image, project or port variable), so they work only if
// `make up` left its choices in .env, as it must on a machine without a
// registry. What the test changes in a command, and why:
//   - localhost:8000 and the other ports become the test stack's ports;
//   - container names (scalelab_api_1) get the test's project name, in the
//     compose in use's spelling;
//   - `docker compose` becomes the compose in use, `exec` with -T (no terminal);
//   - `make up` becomes `make -o images up` (make test built the images) and
//     gets the test's project and ports, as a user who moved them would give;
//   - /tmp/jar becomes a file of the test's; `open URL` becomes a curl of it.
//
// Every command must exit 0; those with a check below must also do what the
// README's comment says. A check whose command left the tour fails the test.
func TestTour(t *testing.T) {
	lines := tourLines(t)
	s := startStack(t)
	w := &walk{s: s, tmp: t.TempDir(), token: "tour-purge-token"}
	w.sep = containerSeparator(t, s)

	remaining := map[string]int{}
	for _, c := range tourChecks {
		remaining[c.cmd]++
	}
	for _, line := range lines {
		if remaining[line] > 0 {
			remaining[line]--
		}
	}
	for cmd, n := range remaining {
		if n > 0 {
			t.Errorf("checked but no longer in README.md's tour (update tests/stack/tour_test.go): %s", cmd)
		}
	}

	next := 0
	for _, line := range lines {
		var c *tourCheck
		if next < len(tourChecks) && tourChecks[next].cmd == line {
			c = &tourChecks[next]
			next++
		}
		if c != nil && c.before != nil {
			c.before(t, w)
		}
		out := w.sh(t, line)
		if c == nil {
			t.Logf("ran, no check beyond its exit status: %s", line)
			continue
		}
		c.check(t, w, out)
	}
	if next < len(tourChecks) {
		t.Errorf("the tour's commands are no longer in the order of the checks; first not applied: %s", tourChecks[next].cmd)
	}
}

// tourLines returns the commands of the first sh block under "## Try it",
// without comments and blank lines.
func tourLines(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n## Try it\n")
	if !ok {
		t.Fatal(`README.md has no "## Try it" section`)
	}
	_, rest, ok = strings.Cut(rest, "```sh\n")
	block, _, ok2 := strings.Cut(rest, "\n```")
	if !ok || !ok2 {
		t.Fatal(`README.md's "Try it" has no sh block`)
	}
	comment := regexp.MustCompile(`\s+#\s.*$`)
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		l = strings.TrimSpace(comment.ReplaceAllString(l, ""))
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

// walk is the state of one tour.
type walk struct {
	s     *stack
	tmp   string
	sep   string // "_" (docker-compose 1.29) or "-" (Compose v2) in container names
	token string // EDGE_ADMIN_TOKEN, in the edges' environment and the user's shell
}

// defaultPorts maps the README's host ports to the test stack's variables.
var defaultPorts = map[string]string{"8000": "LB_PORT", "8001": "LB_L4_PORT", "8443": "LB_TLS_PORT",
	"8081": "EDGE_SYDNEY_PORT", "8082": "EDGE_NEWYORK_PORT", "8090": "ORIGIN_PORT", "9090": "PROMETHEUS_PORT"}

var (
	localhostPort = regexp.MustCompile(`localhost:(\d+)`)
	containerName = regexp.MustCompile(`\bscalelab_([a-z0-9-]+)_(\d+)\b`)
)

// rewrite adapts a tour command to the test stack (see TestTour).
func (w *walk) rewrite(line string) string {
	line = localhostPort.ReplaceAllStringFunc(line, func(m string) string {
		if v, ok := defaultPorts[strings.TrimPrefix(m, "localhost:")]; ok {
			return "localhost:" + ports[v]
		}
		return m
	})
	line = containerName.ReplaceAllString(line, project+w.sep+"${1}"+w.sep+"${2}")
	compose := strings.Join(w.s.compose, " ")
	line = strings.ReplaceAll(line, "docker compose exec ", compose+" exec -T ")
	line = strings.ReplaceAll(line, "docker compose ", compose+" ")
	line = strings.ReplaceAll(line, "make up", "make --no-print-directory -o images up")
	line = strings.ReplaceAll(line, "/tmp/jar", filepath.Join(w.tmp, "jar"))
	if rest, ok := strings.CutPrefix(line, "open "); ok {
		line = "curl -sf -o /dev/null " + strings.ReplaceAll(rest, "localhost:9090", "localhost:"+ports["PROMETHEUS_PORT"])
	}
	return line
}

// userEnv is what a user's shell has: no variable of the stack's.
func (w *walk) userEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TMPDIR",
			"DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_CONTEXT":
			env = append(env, kv)
		}
	}
	return env
}

// sh runs one tour command in the repository's folder and returns what it
// printed; it must exit 0 within two minutes.
func (w *walk) sh(t *testing.T, line string) string {
	t.Helper()
	cmdline := w.rewrite(line)
	cmd := exec.Command("timeout", "120", "bash", "-c", cmdline)
	cmd.Dir = w.s.root
	cmd.Env = w.userEnv()
	if strings.Contains(line, "$EDGE_ADMIN_TOKEN") {
		// The README's purge takes the token from the user's shell.
		cmd.Env = append(cmd.Env, "EDGE_ADMIN_TOKEN="+w.token)
	}
	if strings.Contains(line, "make up") {
		cmd.Env = w.s.env
	}
	out, err := cmd.CombinedOutput()
	t.Logf("$ %s\n%s", cmdline, out)
	if err != nil {
		t.Fatalf("tour command failed: %s\n(ran as: %s): %v\n%s", line, cmdline, err, out)
	}
	return string(out)
}

// containerSeparator tells how the compose in use names containers.
func containerSeparator(t *testing.T, s *stack) string {
	t.Helper()
	id := strings.TrimSpace(s.mustRun("ps", "-q", "redis"))
	out, err := exec.Command("docker", "inspect", "-f", "{{.Name}}", id).Output()
	if err != nil {
		t.Fatalf("docker inspect %s: %v", id, err)
	}
	if strings.HasPrefix(strings.TrimSpace(string(out)), "/"+project+"_") {
		return "_"
	}
	return "-"
}

// eventually retries f until it returns "" or bound passes, and fails with
// f's last complaint. Each try is a round of real requests.
func eventually(t *testing.T, bound time.Duration, f func() string) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", bound, msg)
		}
		time.Sleep(time.Second)
	}
}

// header returns the value of header name in curl -i or -I output.
func header(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// status returns the status code of the first status line in curl -i output.
func status(out string) int {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) >= 2 && strings.HasPrefix(f[0], "HTTP/") {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// servedBy asks the lb n times and counts the answers by replica; failed
// answers count under "".
func servedBy(t *testing.T, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for range n {
		a := get(t, url_("LB_PORT", "/"))
		if a.status != 200 {
			seen[""]++
			continue
		}
		seen[a.header.Get("X-Served-By")]++
	}
	return seen
}

func want(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
	}
}

func cached(t *testing.T, port, path string) string {
	t.Helper()
	return get(t, url_(port, path)).header.Get("X-Cache")
}

// tourCheck is what one tour command must do, beyond exiting 0: before
// prepares what the README's comment says to prepare, check reads the
// command's output and the stack.
type tourCheck struct {
	cmd    string
	before func(t *testing.T, w *walk)
	check  func(t *testing.T, w *walk, out string)
}

var tourChecks = []tourCheck{
	{cmd: `for i in 1 2 3 4 5 6; do curl -s localhost:8000/; done`, check: func(t *testing.T, w *walk, out string) {
		// Six answers "Hello from <replica>", three replicas in turn.
		var from []string
		for _, l := range strings.Split(out, "Hello from ")[1:] {
			from = append(from, strings.Fields(l)[0])
		}
		want(t, len(from) == 6, "6 answers, got %d: %q", len(from), out)
		want(t, from[0] != from[1] && from[1] != from[2] && from[0] != from[2] &&
			from[3] == from[0] && from[4] == from[1] && from[5] == from[2], "not three replicas in turn: %v", from)
	}},
	{cmd: `docker compose up -d --scale api=5`, check: func(t *testing.T, w *walk, out string) {
		eventually(t, 30*time.Second, func() string {
			if seen := servedBy(t, 10); len(seen) != 5 || seen[""] > 0 {
				return fmt.Sprintf("10 requests answered by %v, want 5 replicas", seen)
			}
			return ""
		})
	}},
	{cmd: `curl -si localhost:8000/ | grep -iE 'x-served-by|x-backend|x-request-id'`, check: func(t *testing.T, w *walk, out string) {
		for _, h := range []string{"X-Served-By", "X-Backend", "X-Request-Id"} {
			want(t, header(out, h) != "", "no %s in %q", h, out)
		}
	}},
	{cmd: `docker stop scalelab_api_1`, check: func(t *testing.T, w *walk, out string) {
		eventually(t, 30*time.Second, func() string {
			if seen := servedBy(t, 8); len(seen) != 4 || seen[""] > 0 {
				return fmt.Sprintf("8 requests answered by %v, want the 4 replicas left, no error", seen)
			}
			return ""
		})
	}},
	// User 42 lives on shard 2: crc32("42") = 841265288, and 841265288 % 3 = 2.
	{cmd: `curl -si localhost:8000/users/42 | grep -iE 'x-cache|x-shard'`, check: func(t *testing.T, w *walk, out string) {
		want(t, header(out, "X-Cache") == "MISS" && header(out, "X-Shard") == "2", "want X-Cache: MISS, X-Shard: 2: %q", out)
	}},
	{cmd: `curl -si localhost:8000/users/42 | grep -iE 'x-cache|x-shard'`, check: func(t *testing.T, w *walk, out string) {
		want(t, header(out, "X-Cache") == "HIT" && header(out, "X-Shard") == "2", "want X-Cache: HIT, X-Shard: 2: %q", out)
	}},
	{cmd: `curl -s -X PUT localhost:8000/users/42 -d '{"name":"Ada Lovelace","email":"ada@example.com"}'`, check: func(t *testing.T, w *walk, out string) {
		want(t, strings.Contains(out, `"Ada Lovelace"`), "PUT did not answer the new name: %q", out)
	}},
	{cmd: `curl -si localhost:8000/users/42 | grep -i x-cache`, check: func(t *testing.T, w *walk, out string) {
		want(t, header(out, "X-Cache") == "MISS", "want MISS after the write: %q", out)
		want(t, strings.Contains(get(t, url_("LB_PORT", "/users/42")).body, `"Ada Lovelace"`), "user 42 does not have the new name")
	}},
	{cmd: `curl -si -X POST localhost:8000/users -d '{"name":"Grace"}'`, check: func(t *testing.T, w *walk, out string) {
		want(t, status(out) == 201 && strings.HasPrefix(header(out, "Location"), "/users/"), "want 201 with Location: /users/<id>: %q", out)
	}},
	{cmd: `curl -si -X DELETE localhost:8000/users/43`, check: func(t *testing.T, w *walk, out string) {
		want(t, status(out) == 204, "want 204: %q", out)
		a := get(t, url_("LB_PORT", "/users/43"))
		want(t, a.status == 404, "GET /users/43 after DELETE = %d, want 404", a.status)
	}},
	{cmd: `docker stop scalelab_redis_1; curl -si localhost:8000/users/44`, check: func(t *testing.T, w *walk, out string) {
		want(t, status(out) == 200 && header(out, "X-Cache") == "BYPASS", "want 200 with X-Cache: BYPASS while Redis is down: %q", out)
	}},
	{cmd: `docker start scalelab_redis_1`, check: func(t *testing.T, w *walk, out string) {
		eventually(t, 30*time.Second, func() string {
			if c := cached(t, "LB_PORT", "/users/44"); c != "MISS" && c != "HIT" {
				return "caching has not resumed: X-Cache: " + c
			}
			return ""
		})
	}},
	{cmd: `CACHE_STRATEGY=write-through make up`, check: func(t *testing.T, w *walk, out string) {
		// Write-through: a write fills the cache, so the next read hits.
		a := put(t, "/users/45", `{"name":"Write Through","email":"wt@example.com"}`)
		want(t, a == 200, "PUT /users/45 = %d", a)
		want(t, cached(t, "LB_PORT", "/users/45") == "HIT", "a read after a write-through write is not a HIT")
	}},
	{cmd: `curl -s -c /tmp/jar -X POST localhost:8000/login -d '{"user_id":42}'`, check: func(t *testing.T, w *walk, out string) {
		jar, err := os.ReadFile(filepath.Join(w.tmp, "jar"))
		want(t, err == nil && strings.Contains(string(jar), "\t"), "no cookie in the jar: %v %q", err, jar)
	}},
	{cmd: `for i in 1 2 3; do curl -s -b /tmp/jar localhost:8000/me; echo; done`, check: func(t *testing.T, w *walk, out string) {
		by := map[string]bool{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var me struct {
				UserID   int64  `json:"user_id"`
				ServedBy string `json:"served_by"`
			}
			want(t, json.Unmarshal([]byte(l), &me) == nil && me.UserID == 42, "not user 42's session: %q", l)
			by[me.ServedBy] = true
		}
		want(t, len(by) == 3, "the session was served by %v, want three replicas", by)
	}},
	{cmd: `curl -s -X POST localhost:8000/users/42/orders -d '{"item":"book","quantity":2,"amount_cents":1299}'`, check: func(t *testing.T, w *walk, out string) {
		want(t, strings.Contains(out, `"book"`), "no order in %q", out)
	}},
	{cmd: `curl -s 'localhost:8000/users/42?include=orders'`, check: func(t *testing.T, w *walk, out string) {
		want(t, strings.Contains(out, `"Ada Lovelace"`) && strings.Contains(out, `"book"`), "want the user and the order: %q", out)
	}},
	{cmd: `docker stop scalelab_pg-orders_1; curl -s 'localhost:8000/users/42?include=orders'`, check: func(t *testing.T, w *walk, out string) {
		want(t, strings.Contains(out, `"Ada Lovelace"`) && strings.Contains(out, `"orders_error"`), "want the user and orders_error: %q", out)
	}},
	{cmd: `for id in 1 2 3 4 5 6; do curl -s -o /dev/null -w "user $id -> shard %header{x-shard}\n" localhost:8000/users/$id; done`, check: func(t *testing.T, w *walk, out string) {
		// crc32 of "1".."6" modulo 3, worked out once and written down.
		const shards = "user 1 -> shard 2\nuser 2 -> shard 1\nuser 3 -> shard 1\nuser 4 -> shard 1\nuser 5 -> shard 1\nuser 6 -> shard 1\n"
		want(t, out == shards, "got\n%s\nwant\n%s", out, shards)
	}},
	{cmd: `curl -s 'localhost:8000/users?ids=1,2,3,999999'`, check: func(t *testing.T, w *walk, out string) {
		var r struct {
			Users   []struct{ ID int64 }
			Missing []int64
		}
		want(t, json.Unmarshal([]byte(out), &r) == nil && len(r.Users) == 3 && slices.Equal(r.Missing, []int64{999999}),
			"want users 1, 2, 3 and 999999 missing: %q", out)
	}},
	{cmd: `curl -s 'localhost:8000/users?limit=5'`, check: func(t *testing.T, w *walk, out string) {
		var r struct{ Users []struct{ ID int64 } }
		want(t, json.Unmarshal([]byte(out), &r) == nil && len(r.Users) == 5, "want 5 users: %q", out)
		for i := 1; i < len(r.Users); i++ {
			want(t, r.Users[i-1].ID < r.Users[i].ID, "not in id order: %q", out)
		}
	}},
	{cmd: `docker stop scalelab_pg-users-2_1; curl -si localhost:8000/users/1`, check: func(t *testing.T, w *walk, out string) {
		want(t, status(out) == 503 && strings.Contains(out, "shard 2"), "user 1 (shard 2) with its shard stopped: want 503 naming shard 2: %q", out)
		want(t, get(t, url_("LB_PORT", "/users/2")).status == 200, "user 2 (shard 1) does not answer with shard 2 stopped")
	}},
	{cmd: `curl -s localhost:8000/users/abc`, check: func(t *testing.T, w *walk, out string) {
		want(t, strings.Contains(out, `"status":400`), "want a 400 problem: %q", out)
	}},
	{cmd: `curl -s -o /dev/null -w "%{time_total}s %header{x-cache}\n" localhost:8081/logo.png`, check: func(t *testing.T, w *walk, out string) {
		var took float64
		var xcache string
		fmt.Sscanf(out, "%gs %s", &took, &xcache)
		// The edge sleeps 200 ms before every origin fetch: a floor, not a guess.
		want(t, xcache == "MISS" && took >= 0.2, "want a MISS of at least 0.2 s: %q", out)
	}},
	{cmd: `curl -s -o /dev/null -w "%{time_total}s %header{x-cache} age=%header{age}\n" localhost:8081/logo.png`, check: func(t *testing.T, w *walk, out string) {
		want(t, strings.Contains(out, " HIT age="), "want a HIT with its age: %q", out)
	}},
	{cmd: `curl -s -o /dev/null -w "%{time_total}s %header{x-cache}\n" localhost:8082/video.mp4`, check: func(t *testing.T, w *walk, out string) {
		want(t, strings.HasSuffix(strings.TrimSpace(out), " MISS"), "want a MISS: %q", out)
	}},
	{cmd: `curl -sI localhost:8090/logo.png`, check: func(t *testing.T, w *walk, out string) {
		for _, h := range []string{"Cache-Control", "ETag", "Last-Modified"} {
			want(t, header(out, h) != "", "the origin sent no %s: %q", h, out)
		}
	}},
	{cmd: `curl -sI localhost:8081/api/time | grep -i -e x-cache -e age -e cache-status`, check: func(t *testing.T, w *walk, out string) {
		want(t, header(out, "X-Cache") != "" && header(out, "Cache-Status") != "", "want X-Cache and Cache-Status: %q", out)
	}},
	{cmd: `curl -sI -H 'Cache-Control: only-if-cached' localhost:8082/nothing.png`, check: func(t *testing.T, w *walk, out string) {
		want(t, status(out) == 504, "want 504: %q", out)
	}},
	{cmd: `curl -sI localhost:8082/logo.png | grep -i cache-status`, check: func(t *testing.T, w *walk, out string) {
		cs := header(out, "Cache-Status")
		want(t, strings.Contains(cs, "edge-shield") && strings.Contains(cs, "edge-newyork"), "want both the shield and the edge in Cache-Status: %q", out)
	}},
	{
		cmd: `docker compose exec prometheus wget -qO- --post-data= --header 'Authorization: Bearer t' 'http://origin:9100/fail?mode=error'`,
		before: func(t *testing.T, w *walk) {
			// What the README's comment says to start with, and an object
			// cached under that Cache-Control.
			if err := w.s.makeUp("ORIGIN_ADMIN_TOKEN=t", "ORIGIN_CACHE_CONTROL=public, max-age=5, stale-if-error=600",
				"EDGE_ADMIN_TOKEN="+w.token); err != nil {
				t.Fatal(err)
			}
			want(t, cached(t, "EDGE_SYDNEY_PORT", "/logo.png?tour=stale") == "MISS", "a new URL was not a MISS")
		},
		check: func(t *testing.T, w *walk, out string) {
			// Once max-age=5 has passed, the failing origin costs no error.
			eventually(t, 30*time.Second, func() string {
				if c := cached(t, "EDGE_SYDNEY_PORT", "/logo.png?tour=stale"); c != "STALE" {
					return "X-Cache: " + c + ", want STALE"
				}
				return ""
			})
			w.s.mustRun("exec", "-T", "prometheus", "wget", "-qO-", "--post-data=", "--header", "Authorization: Bearer t", "http://origin:9100/fail?mode=off")
		},
	},
	{
		cmd: `curl -s -X PURGE -H "Authorization: Bearer $EDGE_ADMIN_TOKEN" localhost:8081/logo.png`,
		before: func(t *testing.T, w *walk) {
			cached(t, "EDGE_SYDNEY_PORT", "/logo.png")
			want(t, cached(t, "EDGE_SYDNEY_PORT", "/logo.png") == "HIT", "logo.png not cached before the purge")
		},
		check: func(t *testing.T, w *walk, out string) {
			want(t, cached(t, "EDGE_SYDNEY_PORT", "/logo.png") == "MISS", "logo.png still cached after the purge: %q", out)
		},
	},
}

// put sends a PUT to the lb and returns the status.
func put(t *testing.T, path, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url_("LB_PORT", path), strings.NewReader(body))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("PUT %s: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
