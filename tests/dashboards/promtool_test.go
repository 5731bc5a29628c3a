//go:build containers

package dashboards

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The rules and their tests, by promtool in the Prometheus image the stack
// runs (the official one, or the stand-in from Debian's package).
func TestRulesWithPromtool(t *testing.T) {
	image := os.Getenv("PROMETHEUS_IMAGE")
	if image == "" {
		image = "prom/prometheus:v2.53.0" // docker-compose.yml's default
	}
	dir, err := filepath.Abs(filepath.Join(root, "deploy/prometheus"))
	if err != nil {
		t.Fatal(err)
	}
	tests, _ := filepath.Glob(filepath.Join(dir, "tests", "*.yml"))
	if len(tests) == 0 {
		t.Fatal("no rule tests in deploy/prometheus/tests")
	}
	args := []string{"run", "--rm", "--network", "none", "--entrypoint", "promtool",
		"-v", dir + ":/etc/prometheus:ro", "-w", "/etc/prometheus/tests", image, "test", "rules"}
	for _, f := range tests {
		args = append(args, filepath.Base(f))
	}
	out, err := exec.Command("docker", args...).CombinedOutput()
	t.Logf("promtool test rules:\n%s", out)
	if err != nil {
		t.Fatalf("promtool test rules: %v", err)
	}
	out, err = exec.Command("docker", "run", "--rm", "--network", "none", "--entrypoint", "promtool",
		"-v", dir+":/etc/prometheus:ro", image, "check", "config", "/etc/prometheus/prometheus.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
}
