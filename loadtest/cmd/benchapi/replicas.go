package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// findWorkspaceRoot walks up from dir to the directory holding go.work: the
// api is built from there, wherever `go run` was started.
func findWorkspaceRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work in this directory or any parent: run benchapi inside the scalelab repository")
		}
		dir = parent
	}
}

// buildAPI compiles the api into dir and returns the binary's path. The
// replicas run as real processes, as in production: no shared Go runtime,
// scheduler or heap with the load generator.
func buildAPI(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "api")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./services/api/cmd/api")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./services/api/cmd/api: %v\n%s", err, out)
	}
	return bin, nil
}

// replica is one api process listening on loopback.
type replica struct {
	name     string
	url      string // traffic, e.g. http://127.0.0.1:40001
	adminURL string // /metrics, /readyz
	logPath  string
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has exited
}

// startReplica starts bin with env plus its own name and free loopback
// ports. The environment is built from scratch: a CACHE_STRATEGY or
// SHARD_ROUTER left in the caller's shell must not change the experiment.
func startReplica(bin, name, logDir string, env map[string]string) (*replica, error) {
	listen, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	admin, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own copy of the descriptor

	vars := []string{"INSTANCE_ID=" + name, "LISTEN_ADDR=" + listen, "ADMIN_ADDR=" + admin}
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	cmd := exec.Command(bin)
	cmd.Env = vars
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	r := &replica{name: name, url: "http://" + listen, adminURL: "http://" + admin,
		logPath: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(r.exited) }()
	return r, nil
}

// freeLoopbackAddr returns a 127.0.0.1 address whose port was free a moment
// ago (another process could take it in between; unlikely on a lab machine).
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitReady polls /readyz until it answers 200. Ready means every shard
// answers and holds the schema and the seed users.
func (r *replica) waitReady(ctx context.Context, within time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(within)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.adminURL+"/readyz", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-r.exited:
			return fmt.Errorf("%s exited before it was ready: %v\n%s", r.name, r.cmd.ProcessState, r.logTail(20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v\n%s", r.name, within, r.logTail(20))
		}
	}
}

// stop asks the replica to drain (SIGTERM) and kills it if it has not
// exited within a few seconds.
func (r *replica) stop() {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
}

// logTail returns the last n lines the replica logged, for error messages.
func (r *replica) logTail(n int) string {
	b, err := os.ReadFile(r.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// fleet is every replica started, stopped together (in parallel: each may
// take a moment to drain) at the end. Nil entries, replicas that were never
// started, are skipped.
type fleet []*replica

func (f fleet) stop() {
	var wg sync.WaitGroup
	for _, r := range f {
		if r != nil {
			wg.Go(r.stop)
		}
	}
	wg.Wait()
}
