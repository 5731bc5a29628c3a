//go:build containers

package swarm

import (
	"strings"
	"testing"
	"time"

	"scalelab/tests/internal/lab"
)

// servedBy asks the lb n times for / and returns who answered each time,
// or nil when any request failed.
func servedBy(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		a, err := lab.TryGet(lab.Client, endpoints.LB+"/")
		if err != nil || a.Status != 200 {
			return nil
		}
		out = append(out, a.Header.Get("X-Served-By"))
	}
	return out
}

func distinct(names []string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// runningTasks returns the container ids of a service's running tasks on
// this node.
func (d *deployment) runningTasks(service string) []string {
	d.t.Helper()
	return strings.Fields(d.docker("ps", "-q", "--no-trunc", "--filter", "status=running",
		"--filter", "label=com.docker.swarm.service.name="+stack+"_"+service))
}

func pinned(t *testing.T, d *deployment) {
	self := d.docker("node", "inspect", "self", "--format", "{{.Description.Hostname}}")
	volumes := map[string]string{
		"pg-users-0": "/var/lib/postgresql/data", "pg-users-1": "/var/lib/postgresql/data",
		"pg-users-2": "/var/lib/postgresql/data", "pg-orders": "/var/lib/postgresql/data",
		"prometheus": "/prometheus", "redis": "",
	}
	for svc, dest := range volumes {
		constraints := d.docker("service", "inspect", stack+"_"+svc, "--format", "{{json .Spec.TaskTemplate.Placement.Constraints}}")
		if want := `"node.hostname == ` + self + `"`; !strings.Contains(constraints, want) {
			t.Errorf("%s: constraints %s, want %s", svc, constraints, want)
		}
		ids := d.runningTasks(svc)
		if len(ids) != 1 {
			t.Errorf("%s: %d running tasks on this node, want 1", svc, len(ids))
			continue
		}
		if dest == "" {
			continue // a cache: no volume
		}
		mounts := d.docker("inspect", ids[0], "--format", `{{range .Mounts}}{{.Name}}:{{.Destination}} {{end}}`)
		if want := stack + "_" + svc + ":" + dest; !strings.Contains(mounts, want) {
			t.Errorf("%s: mounts %q, want volume %s", svc, mounts, want)
		}
	}
}

func killedTaskReplaced(t *testing.T, d *deployment) {
	ids := d.runningTasks("api")
	if len(ids) != 3 {
		t.Fatalf("want 3 running api tasks, got %v", ids)
	}
	killed := ids[0][:12] // a task's hostname, which it answers with, is its short container id
	d.docker("kill", ids[0])
	// Swarm starts a replacement (restart_policy), which passes its health
	// check and joins tasks.api; the lb re-resolves every 2 s.
	var last []string
	deadline := time.Now().Add(120 * time.Second)
	for time.Now().Before(deadline) {
		last = servedBy(6)
		if seen := distinct(last); len(last) == 6 && len(seen) == 3 && !seen[killed] {
			return
		}
		time.Sleep(time.Second) // swarm and the lb container act on their own clocks
	}
	t.Fatalf("after 120 s: answers %v, want 6 answers from 3 replicas, none the killed %s", last, killed)
}
