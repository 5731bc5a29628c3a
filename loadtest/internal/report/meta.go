package report

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// NewMeta describes this commit and machine.
func NewMeta(root, mode, note string) Meta {
	commit := "unknown"
	if out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		commit = strings.TrimSpace(string(out))
		// The reports being rewritten are not a change to what made them.
		if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no", "--", ".", ":!loadtest/reports").Output(); err == nil && len(st) > 0 {
			commit += " (with uncommitted changes)"
		}
	}
	return Meta{Commit: commit, Machine: machine(), Date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), Mode: mode, Note: note}
}

// machine is e.g. "linux/amd64, 2 cores (Intel Xeon ...), 24 GiB".
func machine() string {
	desc := fmt.Sprintf("%s/%s, %d cores", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				desc += " (" + strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":")) + ")"
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			desc += fmt.Sprintf(", %d GiB", (kb+512*1024)/(1024*1024))
		}
	}
	return desc
}

// LoadAvg is the machine's 1-minute load average (/proc/loadavg), or -1
// where there is none: reports name it at their start and end, since on a
// shared machine it says how much their absolute numbers mean.
func LoadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	var v float64
	if _, err := fmt.Sscanf(string(b), "%g", &v); err != nil {
		return -1
	}
	return v
}
