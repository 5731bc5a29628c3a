//go:build containers

package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestTour runs the README's "Try it" commands as a new user would, one
// after the other against the shared stack, and holds each to what the
// README promises beside it. The commands are read from README.md itself,
// so a command that breaks there breaks here; every command must have a
// check below (or a reason it is not run), so a new one cannot slip in
// unchecked.
//
// What is translated, and only that: the user's ports (localhost:8000...)
// to this stack's, `docker compose` to the Compose here, the container
// names scalelab_X_1 to this project's, `exec` to `exec -T` (no terminal
// here), the cookie jar to a temporary
// file, `make up` to `make -o images up` (the images were built before the
// tests), and `open URL` to a curl of the URL that follows redirects,
// as a browser does.
func TestTour(t *testing.T) {
	s := startStack(t)
	cmds := tourCommands(t, "../../README.md")
	jar := filepath.Join(t.TempDir(), "jar")
	steps := tourSteps(s)
	i := 0
	for _, c := range cmds {
		if i >= len(steps) || !strings.HasPrefix(c.cmd, steps[i].prefix) {
			t.Fatalf("README command %q has no check in TestTour (next check is for %q): add one", c.cmd, stepPrefix(steps, i))
		}
		st := steps[i]
		i++
		if st.skip != "" {
			t.Logf("not run: %s (%s)", c.cmd, st.skip)
			continue
		}
		if st.before != nil {
			st.before(t)
		}
		line := s.translate(t, c.cmd, jar)
		out, err := s.shell(line)
		t.Logf("$ %s\n%s", line, out)
		if err != nil && !st.mayFail {
			t.Fatalf("README command %q failed: %v\n%s", c.cmd, err, out)
		}
		if st.check != nil {
			if msg := st.check(t, out); msg != "" {
				t.Fatalf("README command %q (%s): %s\noutput:\n%s", c.cmd, c.promise, msg, out)
			}
		}
	}
	if i != len(steps) {
		t.Fatalf("checks left over from %q on: the README no longer has these commands", steps[i].prefix)
	}
}

func stepPrefix(steps []tourStep, i int) string {
	if i < len(steps) {
		return steps[i].prefix
	}
	return "none"
}

// tourCommand is one command line of the tour, with the comment the README
// writes beside it (what it promises).
type tourCommand struct{ cmd, promise string }

// tourCommands returns the command lines of the first ```sh block after
// the "## Try it" heading of the README, comments stripped into promise.
func tourCommands(t *testing.T, readme string) []tourCommand {
	t.Helper()
	b, err := os.ReadFile(readme)
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
		t.Fatal(`README.md's "Try it" section has no sh block`)
	}
	comment := regexp.MustCompile(`\s+#\s.*$`)
	var out []tourCommand
	for line := range strings.Lines(block) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cmd := strings.TrimSpace(comment.ReplaceAllString(line, ""))
		out = append(out, tourCommand{cmd: cmd, promise: strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(line, cmd), " "))})
	}
	if len(out) < 10 {
		t.Fatalf("README.md's tour has %d commands, fewer than it ever had", len(out))
	}
	return out
}

// defaultPorts maps the user's host ports, as the README writes them, to
// this stack's port variables.
var defaultPorts = map[string]string{
	"8000": "LB_PORT", "8081": "EDGE_SYDNEY_PORT", "8082": "EDGE_NEWYORK_PORT",
	"8090": "ORIGIN_PORT", "9090": "PROMETHEUS_PORT",
}

var (
	localhostPort = regexp.MustCompile(`localhost:(\d+)`)
	containerName = regexp.MustCompile(`\bscalelab_([a-z0-9-]+)_1\b`)
)

// translate turns a README command into this stack's (see TestTour).
func (s *stack) translate(t *testing.T, cmd, jar string) string {
	t.Helper()
	cmd = localhostPort.ReplaceAllStringFunc(cmd, func(m string) string {
		v, ok := defaultPorts[strings.TrimPrefix(m, "localhost:")]
		if !ok {
			t.Fatalf("README command uses %s, a port the stack does not publish", m)
		}
		return "localhost:" + ports[v]
	})
	// exec -T: a user's terminal is a TTY, the test's is not.
	cmd = strings.ReplaceAll(cmd, "docker compose exec ", "docker compose exec -T ")
	cmd = strings.ReplaceAll(cmd, "docker compose ", strings.Join(s.compose, " ")+" ")
	cmd = containerName.ReplaceAllStringFunc(cmd, func(m string) string {
		return s.containerOne(t, containerName.FindStringSubmatch(m)[1])
	})
	cmd = strings.ReplaceAll(cmd, "/tmp/jar", jar)
	cmd = strings.ReplaceAll(cmd, "make up", "make --no-print-directory -o images up")
	if rest, ok := strings.CutPrefix(cmd, "open "); ok {
		cmd = "curl -sfL -o /dev/null -w '%{http_code}\\n' " + rest // a browser follows redirects
	}
	return cmd
}

// containerOne is the name of container number 1 of a service of the
// stack, whichever Compose named it.
func (s *stack) containerOne(t *testing.T, service string) string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-a",
		"--filter", "label=com.docker.compose.project="+project,
		"--filter", "label=com.docker.compose.service="+service,
		"--filter", "label=com.docker.compose.container-number=1",
		"--format", "{{.Names}}").Output()
	name := strings.TrimSpace(string(out))
	if err != nil || name == "" || strings.Contains(name, "\n") {
		t.Fatalf("container 1 of service %s: %q, %v", service, name, err)
	}
	return name
}

// shell runs a command line in the stack's copy of the repository, with
// the stack's environment, as the user's shell would after `make up`.
func (s *stack) shell(line string, extra ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", line)
	cmd.Dir = s.dir
	cmd.Env = append(append(append([]string{}, s.env...), "EDGE_ADMIN_TOKEN="+tourEdgeToken), extra...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

const tourEdgeToken = "tour-edge-token"

// tourStep checks one README command, found by its prefix.
type tourStep struct {
	prefix  string
	skip    string                                // not run, and why
	before  func(t *testing.T)                    // what the README says to do first
	mayFail bool                                  // the command's own status is not the point
	check   func(t *testing.T, out string) string // "" when the output keeps the promise
}

func contains(subs ...string) func(*testing.T, string) string {
	return func(_ *testing.T, out string) string {
		for _, sub := range subs {
			if !strings.Contains(strings.ToLower(out), strings.ToLower(sub)) {
				return fmt.Sprintf("output lacks %q", sub)
			}
		}
		return ""
	}
}

// eventually polls cond, a state of other processes (containers), every
// half second for up to within; it returns cond's last complaint.
func eventually(within time.Duration, cond func() string) string {
	deadline := time.Now().Add(within)
	for {
		msg := cond()
		if msg == "" || time.Now().After(deadline) {
			return msg
		}
		time.Sleep(500 * time.Millisecond) // another process's state: nothing to wait on but time
	}
}

func distinctServedBy(n int) string {
	seen := map[string]bool{}
	for range n {
		resp, err := client.Get(url_("LB_PORT", "/"))
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Sprintf("GET / = %d", resp.StatusCode)
		}
		seen[resp.Header.Get("X-Served-By")] = true
	}
	return fmt.Sprint(len(seen))
}

func tourSteps(s *stack) []tourStep {
	shardOf := func(id string) string { return fmt.Sprint(crc32.ChecksumIEEE([]byte(id)) % 3) }
	return []tourStep{
		{prefix: "for i in 1 2 3 4 5 6; do curl -s localhost:8000/", check: func(_ *testing.T, out string) string {
			lines := strings.Split(strings.TrimSpace(out), "\n")
			seen := map[string]bool{}
			for _, l := range lines {
				if !strings.HasPrefix(l, "Hello from ") {
					return fmt.Sprintf("line %q is not a replica's hello", l)
				}
				seen[l] = true
			}
			if len(lines) != 6 || len(seen) != 3 {
				return fmt.Sprintf("%d answers from %d replicas, want 6 from 3", len(lines), len(seen))
			}
			return ""
		}},
		{prefix: "docker compose up -d --scale api=5", check: func(*testing.T, string) string {
			// "the lb finds the new replicas within 2 s": a little more on a busy machine.
			if n := eventually(30*time.Second, func() string {
				if got := distinctServedBy(15); got != "5" {
					return "replicas answering: " + got
				}
				return ""
			}); n != "" {
				return n + ", want 5"
			}
			return ""
		}},
		{prefix: "curl -si localhost:8000/ | grep -iE 'x-served-by|x-backend|x-request-id'",
			check: contains("x-served-by:", "x-backend:", "x-request-id:")},
		{prefix: "docker stop scalelab_api_1", check: func(*testing.T, string) string {
			// Tries that fail on it are retried on another replica: no
			// request fails, at once.
			for i := range 12 {
				a, err := client.Get(url_("LB_PORT", "/"))
				if err != nil {
					return err.Error()
				}
				a.Body.Close()
				if a.StatusCode != 200 {
					return fmt.Sprintf("request %d after the stop: %d", i, a.StatusCode)
				}
			}
			return ""
		}},
		{prefix: "curl -si localhost:8000/users/42 | grep -iE 'x-cache|x-shard'", check: contains("x-cache: miss", "x-shard: "+shardOf("42"))},
		{prefix: "curl -si localhost:8000/users/42 | grep -iE 'x-cache|x-shard'", check: contains("x-cache: hit", "x-shard: "+shardOf("42"))},
		{prefix: "curl -s -X PUT localhost:8000/users/42", check: contains("Ada Lovelace")},
		{prefix: "curl -si localhost:8000/users/42 | grep -i x-cache", check: contains("x-cache: miss")},
		{prefix: "curl -si -X POST localhost:8000/users", check: contains(" 201", "location: /users/")},
		{prefix: "curl -si -X DELETE localhost:8000/users/43", check: func(t *testing.T, out string) string {
			if !strings.Contains(out, " 204") {
				return "no 204"
			}
			if a := get(t, url_("LB_PORT", "/users/43")); a.status != 404 {
				return fmt.Sprintf("GET /users/43 after the delete = %d, want 404", a.status)
			}
			return ""
		}},
		{prefix: "docker stop scalelab_redis_1; curl -si localhost:8000/users/44", check: contains(" 200", "x-cache: bypass")},
		{prefix: "docker start scalelab_redis_1", check: func(t *testing.T, _ string) string {
			return eventually(60*time.Second, func() string {
				get(t, url_("LB_PORT", "/users/45"))
				if a := get(t, url_("LB_PORT", "/users/45")); a.header.Get("X-Cache") != "HIT" {
					return "caching did not resume: X-Cache " + a.header.Get("X-Cache")
				}
				return ""
			})
		}},
		{prefix: "CACHE_STRATEGY=write-through make up", check: func(t *testing.T, _ string) string {
			// make up recreated the replicas: the lb follows them through
			// DNS and its health checks, as after --scale. A user types the
			// next command seconds later; the test waits for the same state.
			if n := eventually(30*time.Second, func() string {
				if got := distinctServedBy(15); got != "3" {
					return "replicas answering: " + got
				}
				return ""
			}); n != "" {
				return n + ", want the 3 recreated ones"
			}
			if a := get(t, url_("LB_PORT", "/users/42")); a.status != 200 {
				return fmt.Sprintf("GET /users/42 on write-through = %d", a.status)
			}
			return ""
		}},
		{prefix: "curl -s -c /tmp/jar -X POST localhost:8000/login", check: contains(`"user_id":42`)},
		{prefix: "for i in 1 2 3; do curl -s -b /tmp/jar localhost:8000/me", check: func(_ *testing.T, out string) string {
			served := map[string]bool{}
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				var me struct {
					UserID   int64  `json:"user_id"`
					ServedBy string `json:"served_by"`
				}
				if err := json.Unmarshal([]byte(l), &me); err != nil || me.UserID != 42 {
					return fmt.Sprintf("line %q is not user 42's session", l)
				}
				served[me.ServedBy] = true
			}
			if len(served) < 2 {
				return fmt.Sprintf("served_by did not change: %v", served)
			}
			return ""
		}},
		{prefix: "curl -s -X POST localhost:8000/users/42/orders", check: contains(`"item":"book"`)},
		{prefix: "curl -s 'localhost:8000/users/42?include=orders'", check: contains(`"orders"`, `"item":"book"`)},
		{prefix: "docker stop scalelab_pg-orders_1; curl -s 'localhost:8000/users/42?include=orders'", check: contains(`"id":42`, `"orders_error"`)},
		{prefix: "docker start scalelab_pg-orders_1", check: func(t *testing.T, _ string) string {
			return eventually(60*time.Second, func() string {
				if a := get(t, url_("LB_PORT", "/users/42?include=orders")); !strings.Contains(a.body, `"item":"book"`) {
					return "orders did not come back: " + a.body
				}
				return ""
			})
		}},
		{prefix: "for id in 1 2 3 4 5 6; do curl -s -o /dev/null -w \"user $id -> shard %header{x-shard}", check: func(_ *testing.T, out string) string {
			for _, id := range []string{"1", "2", "3", "4", "5", "6"} {
				if want := "user " + id + " -> shard " + shardOf(id) + "\n"; !strings.Contains(out, want) {
					return fmt.Sprintf("lacks %q", want)
				}
			}
			return ""
		}},
		{prefix: "curl -s 'localhost:8000/users?ids=1,2,3,999999'", check: contains(`"id":1,`, `"id":3,`, `"missing":[999999]`)},
		{prefix: "curl -s 'localhost:8000/users?limit=5'", check: func(_ *testing.T, out string) string {
			var page struct {
				Users []struct {
					ID int64 `json:"id"`
				} `json:"users"`
			}
			if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Users) != 5 {
				return fmt.Sprintf("%d users (%v), want 5", len(page.Users), err)
			}
			for i := 1; i < 5; i++ {
				if page.Users[i].ID <= page.Users[i-1].ID {
					return fmt.Sprintf("ids not in order: %v", page.Users)
				}
			}
			return ""
		}},
		{prefix: "make reshard-plan TO=4", check: contains("consistent")},
		{prefix: "make reshard TO=4; make reshard-status", skip: "it moves the shared stack to four shards for good; " +
			"services/api/cmd/api TestReshardUnderTraffic runs the same engine under traffic"},
		{prefix: "docker stop scalelab_pg-users-2_1; curl -si localhost:8000/users/17", check: contains(" 503", "shard 2")},
		{prefix: "curl -s localhost:8000/users/abc", check: contains(`"status":400`)},
		{prefix: "curl -s -o /dev/null -w \"%{time_total}s %header{x-cache}\\n\" localhost:8081/logo.png", check: func(_ *testing.T, out string) string {
			var secs float64
			var xcache string
			if _, err := fmt.Sscanf(out, "%fs %s", &secs, &xcache); err != nil || xcache != "MISS" || secs < 0.2 {
				return fmt.Sprintf("want a MISS of at least 0.2 s (%v)", err)
			}
			return ""
		}},
		{prefix: "curl -s -o /dev/null -w \"%{time_total}s %header{x-cache} age=%header{age}\\n\" localhost:8081/logo.png", check: func(_ *testing.T, out string) string {
			var secs float64
			var xcache string
			if _, err := fmt.Sscanf(out, "%fs %s", &secs, &xcache); err != nil || xcache != "HIT" || secs >= 0.2 {
				return fmt.Sprintf("want a HIT well under the 0.2 s of a miss (%v)", err)
			}
			return ""
		}},
		{prefix: "curl -s -o /dev/null -w \"%{time_total}s %header{x-cache}\\n\" localhost:8082/video.mp4", check: contains("s MISS")},
		{prefix: "curl -sI localhost:8090/logo.png", check: contains("cache-control:", "etag:", "last-modified:")},
		{prefix: "curl -s localhost:8090/api/time", check: func(_ *testing.T, out string) string {
			if strings.TrimSpace(out) == "" {
				return "empty"
			}
			return ""
		}},
		{prefix: "curl -sI localhost:8081/api/time | grep -i -e x-cache -e age -e cache-status", check: contains("x-cache:", "cache-status:")},
		{prefix: "curl -sI -H 'Cache-Control: only-if-cached' localhost:8082/nothing.png", check: contains(" 504")},
		{prefix: "curl -sI localhost:8082/logo.png | grep -i cache-status", check: contains("edge-shield", "edge-newyork")},
		{prefix: "docker compose exec prometheus wget",
			before: func(t *testing.T) {
				// "start with ORIGIN_ADMIN_TOKEN=t, ORIGIN_CACHE_CONTROL=...
				// and EDGE_PARENT_URL=http://origin:8080", the edge's admin
				// token for the purge below too (the edges are recreated,
				// their caches empty); then "get the logo once", into
				// sydney's cache with max-age=5, to be served stale.
				if err := s.makeUp("ORIGIN_ADMIN_TOKEN=t", "ORIGIN_CACHE_CONTROL=public, max-age=5, stale-if-error=600",
					"EDGE_PARENT_URL=http://origin:8080", "EDGE_ADMIN_TOKEN="+tourEdgeToken); err != nil {
					t.Fatal(err)
				}
				if a := get(t, url_("EDGE_SYDNEY_PORT", "/logo.png")); a.status != 200 || a.header.Get("X-Cache") != "MISS" ||
					a.header.Get("Cache-Control") != "public, max-age=5, stale-if-error=600" {
					t.Fatalf("logo before the failure: %d X-Cache %q Cache-Control %q, want a 200 MISS (a fresh edge) with the Cache-Control set",
						a.status, a.header.Get("X-Cache"), a.header.Get("Cache-Control"))
				}
			},
			check: func(t *testing.T, _ string) string {
				return eventually(30*time.Second, func() string {
					a := get(t, url_("EDGE_SYDNEY_PORT", "/logo.png"))
					if a.status != 200 || a.header.Get("X-Cache") != "STALE" || !strings.Contains(a.header.Get("Cache-Status"), "detail=stale-if-error") {
						return fmt.Sprintf("logo with the origin failing: %d X-Cache %q Cache-Status %q, want 200 STALE, stale-if-error",
							a.status, a.header.Get("X-Cache"), a.header.Get("Cache-Status"))
					}
					return ""
				})
			}},
		{prefix: "curl -s -X PURGE -H \"Authorization: Bearer $EDGE_ADMIN_TOKEN\" localhost:8081/logo.png", check: func(t *testing.T, out string) string {
			if a := get(t, url_("EDGE_SYDNEY_PORT", "/logo.png")); a.header.Get("X-Cache") == "STALE" || a.header.Get("X-Cache") == "HIT" {
				return fmt.Sprintf("logo still cached after the purge: X-Cache %q", a.header.Get("X-Cache"))
			}
			return ""
		}},
		{prefix: "open http://localhost:9090/graph", check: contains("200")},
	}
}
