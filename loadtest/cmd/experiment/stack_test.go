//go:build containers || experiments

// The experiments on a real stack of the project's images: one cheap
// experiment in `make test` (tag containers, cheap_test.go), all of them in
// `make test-experiments` (tag experiments, every_test.go). Both share this
// stack and these report checks.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"scalelab/loadtest/internal/experiments"
	"scalelab/loadtest/internal/report"
)

// The experiments' own stack: its project name and ports never touch the
// user's stack (8000...), the whole-stack test's (18000...) or the swarm
// test's (28000...). They stay below Linux's ephemeral range (32768-60999):
// a port in it can be taken by any outgoing connection (the load
// generator's thousands), and then Docker cannot publish it when a
// container is (re)created.
const project = "scalelab-exptest"

var testPorts = map[string]string{
	"LB_PORT": "24000", "LB_L4_PORT": "24001", "LB_TLS_PORT": "24443", "EDGE_SYDNEY_PORT": "24081",
	"EDGE_NEWYORK_PORT": "24082", "ORIGIN_PORT": "24090", "PROMETHEUS_PORT": "25090",
}

// runShort brings up the experiments' own stack, runs the named
// experiments (or all) in short mode and checks each report: a verdict,
// the numbers it lists present in results.json and in report.md, and every
// chart it shows a PNG with something drawn in it.
func runShort(t *testing.T, name string, timeout time.Duration) {
	env := append(os.Environ(), "COMPOSE_PROJECT_NAME="+project, "SCALELAB_BIND=127.0.0.1")
	for k, v := range testPorts {
		env = append(env, k+"="+v)
	}
	compose := func(args ...string) (string, error) {
		c := strings.Fields(os.Getenv("COMPOSE"))
		if len(c) == 0 {
			c = []string{"docker-compose"}
			if exec.Command("docker", "compose", "version").Run() == nil {
				c = []string{"docker", "compose"}
			}
		}
		cmd := exec.Command(c[0], append(c[1:], args...)...)
		cmd.Dir, cmd.Env = "../../..", env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	compose("down", "--volumes", "--remove-orphans") // leftovers of an interrupted run
	t.Cleanup(func() {
		if out, err := compose("down", "--volumes", "--remove-orphans"); err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
	})
	// run brings the stack up itself, as `make experiment` does on a stack
	// that is down.

	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var log bytes.Buffer
	err := run(ctx, []string{"-name", name, "-short", "-out", out, "-note", "Test run."}, env, &log)
	t.Logf("experiments:\n%s", log.String())
	if err != nil {
		t.Fatalf("experiments: %v", err)
	}
	if name != "all" {
		checkReport(t, filepath.Join(out, name))
		return
	}
	index, err := os.ReadFile(filepath.Join(out, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range experiments.All {
		t.Run(x.Name, func(t *testing.T) {
			if !strings.Contains(string(index), "["+x.Name+"]("+x.Name+"/report.md)") {
				t.Errorf("README.md does not link %s/report.md", x.Name)
			}
			checkReport(t, filepath.Join(out, x.Name))
		})
	}
}

var chartRef = regexp.MustCompile(`!\[[^\]]*\]\(([^)]+\.png)\)`)

func checkReport(t *testing.T, dir string) {
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	js, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res report.Results
	if err := json.Unmarshal(js, &res); err != nil {
		t.Fatal(err)
	}
	text := string(md)
	for _, want := range []string{"**Claim.**", "**Verdict on this machine: " + res.Verdict + ".**", "## Numbers", "## Setup", "short mode", "Test run."} {
		if !strings.Contains(text, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if res.Verdict != report.Held && res.Verdict != report.Partly && res.Verdict != report.NotHeld {
		t.Errorf("verdict %q", res.Verdict)
	}
	for _, bad := range []string{"TODO", "NaN", "+Inf", "%!"} {
		if strings.Contains(text, bad) {
			t.Errorf("report.md contains %q", bad)
		}
	}
	if len(res.Numbers) < 2 || len(res.Runs) == 0 {
		t.Errorf("%d numbers and %d load runs", len(res.Numbers), len(res.Runs))
	}
	for _, n := range res.Numbers {
		if row := fmt.Sprintf("| %s | %s %s |", n.Label, report.FormatValue(n.Value), n.Unit); !strings.Contains(text, row) {
			t.Errorf("report.md lacks the number row %q", row)
		}
	}
	refs := chartRef.FindAllStringSubmatch(text, -1)
	if len(refs) == 0 || len(refs) != len(res.Charts) {
		t.Errorf("report.md shows %d charts, results.json lists %d", len(refs), len(res.Charts))
	}
	for _, ref := range refs {
		checkPNG(t, filepath.Join(dir, ref[1]))
	}
}

// checkPNG decodes a chart and counts its colours: axes, text and a line or
// bars in several colours give dozens; an empty canvas one or two.
func checkPNG(t *testing.T, path string) {
	f, err := os.Open(path)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	seen := map[uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[r>>8<<16|g>>8<<8|bl>>8] = true
		}
	}
	if len(seen) < 10 {
		t.Errorf("%s has %d colours: an empty chart", filepath.Base(path), len(seen))
	}
}
