// Package stack drives the lab's compose stack for the experiments: it finds
// the stack the user runs (COMPOSE_PROJECT_NAME and the *_PORT variables, as
// `make up` sets them), brings it up when it is down, changes its state
// (replicas, a variable of a service, a stopped container) and puts it back
// as the compose file declares it.
package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Stack is one compose project.
type Stack struct {
	Root    string   // the repository: where docker-compose.yml is
	Project string   // COMPOSE_PROJECT_NAME
	compose []string // "docker compose" or "docker-compose"
	env     []string // the environment every compose command gets
	Log     func(format string, args ...any)
}

// Ports of the published services, from the same variables the compose file
// reads, with its defaults.
var portVars = map[string]string{
	"LB_PORT": "8000", "LB_L4_PORT": "8001", "EDGE_SYDNEY_PORT": "8081",
	"EDGE_NEWYORK_PORT": "8082", "ORIGIN_PORT": "8090", "PROMETHEUS_PORT": "9090",
}

// New finds the repository root from dir (walking up to docker-compose.yml)
// and the compose command; env is the environment every command gets
// (os.Environ() in production), which names the project and its ports.
func New(dir string, env []string) (*Stack, error) {
	root, err := findRoot(dir)
	if err != nil {
		return nil, err
	}
	s := &Stack{Root: root, env: slices.Clone(env), Log: func(string, ...any) {}}
	s.Project = s.getenv("COMPOSE_PROJECT_NAME")
	if s.Project == "" {
		s.Project = "scalelab"
		s.env = append(s.env, "COMPOSE_PROJECT_NAME=scalelab")
	}
	if c := strings.Fields(s.getenv("COMPOSE")); len(c) > 0 {
		s.compose = c
	} else if exec.Command("docker", "compose", "version").Run() == nil {
		s.compose = []string{"docker", "compose"}
	} else if _, err := exec.LookPath("docker-compose"); err == nil {
		s.compose = []string{"docker-compose"}
	} else {
		return nil, errors.New("neither `docker compose` nor `docker-compose` is installed")
	}
	return s, nil
}

func findRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "docker-compose.yml")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no docker-compose.yml in %s or above: run from the repository", dir)
		}
	}
}

// URL is the host URL of a published port variable, e.g. URL("LB_PORT").
func (s *Stack) URL(portVar string) string {
	port := s.getenv(portVar)
	if port == "" {
		port = portVars[portVar]
	}
	bind := s.getenv("SCALELAB_BIND")
	if bind == "" || bind == "0.0.0.0" {
		bind = "127.0.0.1"
	}
	return "http://" + bind + ":" + port
}

func (s *Stack) getenv(k string) string {
	for i := len(s.env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(s.env[i], k+"="); ok {
			return v
		}
	}
	return ""
}

// Compose runs a compose command with extra variables (e.g.
// CACHE_STRATEGY=write-through) and returns its combined output.
func (s *Stack) Compose(ctx context.Context, extraEnv []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.compose[0], append(s.compose[1:], args...)...)
	cmd.Dir = s.Root
	cmd.Env = append(append([]string{}, s.env...), extraEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %v: %s", strings.Join(s.compose, " "), strings.Join(args, " "), err, lastLines(out.String(), 5))
	}
	return out.String(), nil
}

// Docker runs a docker command and returns its trimmed output.
func (s *Stack) Docker(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, lastLines(string(out), 5))
	}
	return strings.TrimSpace(string(out)), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// Running reports whether the project's lb container is running.
func (s *Stack) Running(ctx context.Context) bool {
	ids, err := s.Containers(ctx, "lb")
	return err == nil && len(ids) > 0
}

// Containers lists the ids of a service's running containers.
func (s *Stack) Containers(ctx context.Context, service string) ([]string, error) {
	out, err := s.Compose(ctx, nil, "ps", "-q", service)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, id := range strings.Fields(out) {
		state, err := s.Docker(ctx, "inspect", "-f", "{{.State.Running}}", id)
		if err == nil && state == "true" {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// Apply brings the stack to the compose file's declared state with extra
// variables (none: as `make up` leaves it), recreating what changed, and
// waits until every container is healthy.
func (s *Stack) Apply(ctx context.Context, extraEnv []string, args ...string) error {
	s.Log("compose up %s %s", strings.Join(extraEnv, " "), strings.Join(args, " "))
	// docker-compose 1.29 gives up on a dependency whose health check has
	// not passed yet, which a busy machine makes likely at start: the
	// containers stay, so asking again goes on where it stopped.
	var err error
	for try := 1; try <= 5; try++ {
		if _, err = s.Compose(ctx, extraEnv, append([]string{"up", "-d", "--no-build"}, args...)...); err == nil || !strings.Contains(err.Error(), "unhealthy") {
			break
		}
		s.Log("a dependency was not healthy yet (try %d): asking again", try)
		if err := sleepCtx(ctx, 10*time.Second); err != nil {
			return err
		}
	}
	if err != nil {
		return err
	}
	return s.WaitHealthy(ctx)
}

// Restore puts the stack back as `make up` leaves it.
func (s *Stack) Restore(ctx context.Context) error { return s.Apply(ctx, nil, "--remove-orphans") }

// WaitHealthy waits (deploy/wait-healthy.sh) until every container is healthy.
func (s *Stack) WaitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(s.Root, "deploy", "wait-healthy.sh"))
	cmd.Dir = s.Root
	cmd.Env = append(append([]string{}, s.env...), "COMPOSE="+strings.Join(s.compose, " "), "WAIT_TIMEOUT=280")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("stack not healthy: %v: %s", err, lastLines(string(out), 8))
	}
	return nil
}

// CPU returns the CPU time a container has used so far, read from its
// cgroup (v1 cpuacct or v2 cpu.stat): exact, unlike a scrape every 5 s.
func (s *Stack) CPU(ctx context.Context, id string) (time.Duration, error) {
	full, err := s.Docker(ctx, "inspect", "-f", "{{.Id}}", id)
	if err != nil {
		return 0, err
	}
	return cgroupCPU(full)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
