//go:build containers

package stack

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The package's tests share one stack: the first to call startStack brings
// it up with `make up`, as a user does, in a copy of the repository (so the
// .env that `make up` writes is the copy's, never the developer's own), and
// TestMain takes it down when every test has run. Each later call puts it
// back in the state `make up` leaves (stopped containers started, three api
// replicas, the caches empty), so tests may stop what they need to.

// shared is the package's one stack; err, once set, fails every later test
// at once instead of bringing the stack up again.
var shared struct {
	s   *stack
	err error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if s := shared.s; s != nil {
		if out, err := s.run("down", "--volumes", "--remove-orphans"); err != nil {
			fmt.Fprintf(os.Stderr, "compose down: %v\n%s", err, out)
			code = 1
		}
		os.RemoveAll(s.dir)
	}
	os.Exit(code)
}

type stack struct {
	t       *testing.T
	root    string   // the repository (artifacts go there)
	dir     string   // the copy of it the stack runs from
	compose []string // docker compose, or docker-compose 1.29
	env     []string // the test's environment with the project and ports
}

// startStack returns the shared stack as `make up` leaves it.
func startStack(t *testing.T) *stack {
	t.Helper()
	if shared.err != nil {
		t.Fatalf("the stack did not come up for an earlier test: %v", shared.err)
	}
	if shared.s == nil {
		shared.s, shared.err = bringUp(t)
		if shared.err != nil {
			t.Fatal(shared.err)
		}
	} else {
		shared.s.t = t
		// Redis and the edges keep their caches in memory: a restart empties them.
		shared.s.mustRun("restart", "-t", "5", "redis", "edge-shield", "edge-sydney", "edge-newyork")
		if err := shared.s.makeUp(); err != nil {
			t.Fatal(err)
		}
	}
	s := shared.s
	s.t = t
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := s.run("logs", "--tail", "40")
			t.Logf("compose logs:\n%s", out)
		}
	})
	return s
}

// bringUp copies the repository and runs `make up` in the copy.
func bringUp(t *testing.T) (*stack, error) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "scalelab-stacktest-")
	if err != nil {
		return nil, err
	}
	cp := exec.Command("sh", "-c", `tar -C "$1" --exclude=./.git --exclude=./vendor --exclude=./.env --exclude=./.test-results --exclude=./artifacts --exclude=./dashboards-png -cf - . | tar -C "$2" -xf -`, "copy", repo, root)
	if out, err := cp.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("copy the repository: %v\n%s", err, out)
	}
	s := &stack{t: t, root: repo, dir: root, compose: composeCommand(t), env: stackEnv()}
	s.run("down", "--volumes", "--remove-orphans") // leftovers of an interrupted run
	if err := s.makeUp(); err != nil {
		// On a loaded machine PostgreSQL's first start (initdb) can outlast
		// its health check's retries, and compose gives up on the api; the
		// containers go on starting, and a second make up finds them healthy.
		t.Logf("make up failed once, trying again: %v", err)
		return s, s.makeUp()
	}
	return s, nil
}

// stackEnv is the test's environment with the project name and host ports
// of the test stack, less make's own variables (the tests may run under
// make test).
func stackEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "COMPOSE_PROJECT_NAME":
		default:
			env = append(env, kv)
		}
	}
	env = append(env, "COMPOSE_PROJECT_NAME="+project, "SCALELAB_BIND=127.0.0.1", "WAIT_TIMEOUT=300")
	for k, v := range ports {
		env = append(env, k+"="+v)
	}
	return env
}

// makeUp runs `make up` in the copy, extra variables added. -o images: the
// images were built before the tests (make test depends on make images).
func (s *stack) makeUp(extra ...string) error {
	cmd := exec.Command("make", "--no-print-directory", "-o", "images", "up")
	cmd.Dir = s.dir
	cmd.Env = append(append([]string{}, s.env...), extra...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("make up: %v\n%s", err, out)
	}
	return nil
}

// composeCommand is COMPOSE as the Makefile sets it, or whichever of Compose
// v2 and docker-compose 1.29 is installed.
func composeCommand(t *testing.T) []string {
	if c := strings.Fields(os.Getenv("COMPOSE")); len(c) > 0 {
		return c
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		return []string{"docker-compose"}
	}
	t.Fatal("neither `docker compose` nor `docker-compose` is installed")
	return nil
}

func (s *stack) run(args ...string) (string, error) {
	cmd := exec.Command(s.compose[0], append(s.compose[1:], args...)...)
	cmd.Dir = s.dir
	cmd.Env = s.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (s *stack) mustRun(args ...string) string {
	s.t.Helper()
	out, err := s.run(args...)
	if err != nil {
		s.t.Fatalf("%s %s: %v\n%s", strings.Join(s.compose, " "), strings.Join(args, " "), err, out)
	}
	return out
}
