package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// FindPeers returns the paths of the peers' binaries, in the order of
// names, or fails naming every one that is missing, what subject is
// compared against ("the lb") and how to install them (hint).
func FindPeers(lookPath func(string) (string, error), sbin, subject, hint string, names ...string) ([]string, error) {
	var paths, missing []string
	for _, n := range names {
		p, err := findTool(n, lookPath, sbin)
		if err != nil {
			missing = append(missing, n)
		}
		paths = append(paths, p)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s not installed: %s is compared against Debian's packages; %s",
			strings.Join(missing, " and "), subject, hint)
	}
	return paths, nil
}

// findTool returns the path of a peer's binary. Debian installs nginx,
// HAProxy and Varnish in /usr/sbin, which a non-root PATH often lacks, so
// sbin is tried too.
func findTool(name string, lookPath func(string) (string, error), sbin string) (string, error) {
	if p, err := lookPath(name); err == nil {
		return p, nil
	}
	p := filepath.Join(sbin, name)
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return p, nil
	}
	return "", fmt.Errorf("%s not found", name)
}

// CheckConfig runs a peer's own configuration check, so a bad config says
// why instead of timing out as "not ready".
func CheckConfig(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// ToolVersion is the first line a peer prints for its version flag
// ("nginx version: nginx/1.22.1"), or "" when it prints nothing.
func ToolVersion(bin string, args ...string) string {
	out, _ := exec.Command(bin, args...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// LoadAverage is ", load average 0.42 before measuring" on Linux, ""
// elsewhere: other work on the machine moves every number, so the report
// says how busy it was.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return ", load average " + f[0] + " before measuring"
	}
	return ""
}
