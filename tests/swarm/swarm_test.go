//go:build containers

// Package swarm deploys the lab as a Docker Swarm stack on this machine's
// engine (a single-node swarm, initialised if there is none), checks what
// the whole-stack compose test checks, rolls the api over under load, and
// leaves the engine's swarm as it found it.
package swarm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"scalelab/tests/internal/lab"
)

const stack = "scalelab-swarmtest"

// Host ports of this test's stack, distinct from a user's stack (8000...)
// and from the compose stack test (18000...): swarm publishes them on every
// interface.
var ports = map[string]string{
	"LB_PORT":           "28000",
	"LB_L4_PORT":        "28001",
	"LB_TLS_PORT":       "28443",
	"EDGE_SYDNEY_PORT":  "28081",
	"EDGE_NEWYORK_PORT": "28082",
	"ORIGIN_PORT":       "28090",
	"PROMETHEUS_PORT":   "29090",
}

var endpoints = lab.Local(28000, 28001, 28081, 28082, 29090)

type deployment struct {
	t    *testing.T
	root string
	env  []string
}

// docker runs the docker CLI and fails the test on an error.
func (d *deployment) docker(args ...string) string {
	d.t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		d.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (d *deployment) script(name string) (string, error) {
	cmd := exec.Command(filepath.Join(d.root, "deploy", "swarm", name))
	cmd.Env = d.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// swarmState is what the test must leave as it found: whether this engine
// is in a swarm, and which networks exist.
func swarmState(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("docker", "info", "--format", "{{.Swarm.LocalNodeState}}").Output()
	if err != nil {
		t.Fatalf("docker info: %v", err)
	}
	gw := exec.Command("docker", "network", "inspect", "docker_gwbridge").Run() == nil
	return strings.TrimSpace(string(out)) + map[bool]string{true: " with docker_gwbridge", false: ""}[gw]
}

func deploy(t *testing.T) *deployment {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "SWARM_STACK="+stack, "WAIT_TIMEOUT=600")
	for k, v := range ports {
		env = append(env, k+"="+v)
	}
	d := &deployment{t: t, root: root, env: env}
	d.script("down.sh") // leftovers of an interrupted run
	before := swarmState(t)
	t.Cleanup(func() {
		if t.Failed() {
			for _, s := range []string{"api", "lb", "pg-users-0"} {
				out, _ := exec.Command("docker", "service", "logs", "--tail", "20", stack+"_"+s).CombinedOutput()
				t.Logf("%s logs:\n%s", s, out)
			}
		}
		if out, err := d.script("down.sh"); err != nil {
			t.Errorf("down.sh: %v\n%s", err, out)
		}
		if after := swarmState(t); after != before {
			t.Errorf("the engine's swarm was %q before the test and is %q after", before, after)
		}
	})
	if out, err := d.script("up.sh"); err != nil {
		t.Fatalf("up.sh: %v\n%s", err, out)
	}
	return d
}

func TestSwarm(t *testing.T) {
	d := deploy(t)
	lab.WaitInRotation(t, endpoints, 3, time.Minute)
	t.Run("the L4 port spreads connections over the replicas", func(t *testing.T) { lab.L4Spreads(t, endpoints, 3) })
	t.Run("three replicas answer in turn through the lb", func(t *testing.T) { lab.InTurn(t, endpoints, 3) })
	t.Run("user 42 is a miss then a hit from its crc32 shard", func(t *testing.T) { lab.MissThenHit(t, endpoints, 3) })
	t.Run("a session made on one replica is valid on every replica", func(t *testing.T) { lab.SessionEverywhere(t, endpoints, 3) })
	t.Run("the far edge pays the round trip on a miss only", func(t *testing.T) { lab.FarEdge(t, endpoints) })
	t.Run("prometheus scrapes every task", func(t *testing.T) {
		// 3 api tasks (found through tasks.api), the lb (one per node), 3
		// edges, origin, prometheus itself.
		lab.TargetsUp(t, endpoints, 9)
	})
	t.Run("every dashboard panel's query returns data", func(t *testing.T) {
		lab.DashboardHasData(t, endpoints, filepath.Join(d.root, "deploy/grafana/dashboards/overview.json"))
	})
	t.Run("data services are pinned to the data node with their volumes", func(t *testing.T) { pinned(t, d) })
	t.Run("a killed api task is replaced and the lb finds the new one", func(t *testing.T) { killedTaskReplaced(t, d) })
	t.Run("a rolling update of the api under load fails no request", func(t *testing.T) { rollingUpdate(t, d) })
}
