// Package proc runs the child processes of the benchmarks: the project's
// own services built from the workspace, and the peers they are compared
// with (nginx, HAProxy, Varnish), each as a real process on loopback with
// an environment of its own, a log file, a clean stop, and its CPU time.
package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// WorkspaceRoot walks up from dir to the directory holding go.work: the
// services are built from there, wherever `go run` was started.
func WorkspaceRoot(dir string) (string, error) {
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
			return "", errors.New("no go.work in this directory or any parent: run the benchmark inside the scalelab repository")
		}
		dir = parent
	}
}

// Build compiles one of the workspace's commands (e.g. "services/lb/cmd/lb")
// into dir, as the image build does, and returns the binary's path.
func Build(ctx context.Context, root, dir, pkg string) (string, error) {
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./"+pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./%s: %v\n%s", pkg, err, out)
	}
	return bin, nil
}

// Proc is one child process.
type Proc struct {
	Name    string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// ErrNotReady is what WaitHTTP reports when the process never answered.
var ErrNotReady = errors.New("not ready")

// Start starts bin with args and exactly env (nothing inherited but PATH and
// HOME: a LOG_LEVEL or LB_* in the caller's shell must not change the
// experiment), logging to logDir/name.log. The child leads its own process
// group (see GroupCPU) and is killed if the benchmark dies.
func Start(name, logDir, bin string, args []string, env map[string]string) (*Proc, error) {
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own copy
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, logPath: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }()
	return p, nil
}

// Pid is the child's process id, and so its process group's.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// WaitHTTP polls url until it answers 200, the process exits, or within passes.
func (p *Proc) WaitHTTP(ctx context.Context, url string, within time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	deadline := time.Now().Add(within)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before it answered %s: %v\n%s", p.Name, url, p.cmd.ProcessState, p.LogTail(20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s %w after %v\n%s", p.Name, url, ErrNotReady, within, p.LogTail(20))
		}
	}
}

// Stop sends SIGTERM (nginx, HAProxy and varnishd take it as "stop now";
// our services drain) and kills the process if it has not exited within a
// few seconds.
func (p *Proc) Stop() {
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// LogTail returns the last n lines the process logged, for error messages.
func (p *Proc) LogTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Group is every process of a run, stopped together (in parallel: each may
// take a moment to drain) at the end; nil entries are skipped.
type Group []*Proc

// Start starts a process as Start does and adds it to the group.
func (g *Group) Start(name, logDir, bin string, args []string, env map[string]string) (*Proc, error) {
	p, err := Start(name, logDir, bin, args, env)
	if err != nil {
		return nil, err
	}
	*g = append(*g, p)
	return p, nil
}

// Stop stops every process of the group.
func (g Group) Stop() {
	var wg sync.WaitGroup
	for _, p := range g {
		if p != nil {
			wg.Go(p.Stop)
		}
	}
	wg.Wait()
}

// FreeAddrs returns n 127.0.0.1 addresses whose ports were free a moment ago.
func FreeAddrs(n int) ([]string, error) {
	out := make([]string, n)
	for i := range out {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		out[i] = ln.Addr().String()
		ln.Close()
	}
	return out, nil
}
