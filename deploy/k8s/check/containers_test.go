package check

import (
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// serviceImage returns the project image target a container runs (api
// for scalelab/api:dev), or "" for another image.
func serviceImage(t *testing.T, image string) string {
	t.Helper()
	repo, tag, _ := strings.Cut(image, ":")
	name, ok := strings.CutPrefix(repo, "scalelab/")
	if !ok {
		return ""
	}
	if _, built := targets[name]; !built {
		t.Errorf("image %s: deploy/Dockerfile builds no %q (it builds %v)", image, name, slices.Sorted(maps.Keys(targets)))
	}
	if tag == "" || tag == "latest" {
		t.Errorf("image %s: name a tag (latest would make the cluster pull, and there is no registry to pull from)", image)
	}
	return name
}

// envOf returns a container's environment: env values (a reference's value
// is "") and every key of the ConfigMaps and Secrets it takes whole.
func envOf(t *testing.T, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, ok := rendered.ConfigMaps[from.ConfigMapRef.Name]
			if !ok {
				t.Errorf("%s: envFrom names ConfigMap %q, which does not exist", c.Name, from.ConfigMapRef.Name)
				continue
			}
			for k, v := range cm.Data {
				env[from.Prefix+k] = v
			}
		case from.SecretRef != nil:
			s, ok := rendered.Secrets[from.SecretRef.Name]
			if !ok {
				t.Errorf("%s: envFrom names Secret %q, which does not exist", c.Name, from.SecretRef.Name)
				continue
			}
			for k := range s.Data {
				env[from.Prefix+k] = ""
			}
		}
	}
	for _, e := range c.Env {
		env[e.Name] = e.Value
		if e.ValueFrom == nil {
			continue
		}
		if ref := e.ValueFrom.SecretKeyRef; ref != nil {
			if _, ok := rendered.Secrets[ref.Name].Data[ref.Key]; !ok {
				t.Errorf("%s: %s refers to key %q of Secret %q, which does not exist", c.Name, e.Name, ref.Key, ref.Name)
			}
		}
		if ref := e.ValueFrom.ConfigMapKeyRef; ref != nil {
			if _, ok := rendered.ConfigMaps[ref.Name].Data[ref.Key]; !ok {
				t.Errorf("%s: %s refers to key %q of ConfigMap %q, which does not exist", c.Name, e.Name, ref.Key, ref.Name)
			}
		}
	}
	return env
}

// Every variable a manifest sets is one its service reads (a misspelt name
// would be ignored silently), and every variable it requires is set.
func TestEnvironmentIsWhatTheServicesRead(t *testing.T) {
	standIn, err := ScriptVars(root + "/deploy/images/postgres/docker-entrypoint.sh")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, w := range rendered.Workloads {
		for _, c := range w.Pod.Spec.Containers {
			env := envOf(t, c)
			name := serviceImage(t, c.Image)
			var read, required map[string]bool
			switch {
			case name != "":
				seen[name] = true
				read, required = reads[name].Vars, reads[name].Required
			case strings.HasPrefix(c.Image, "postgres:"):
				// The official image's contract, which the stand-in keeps.
				read = standIn
			default:
				continue
			}
			for k := range env {
				if !read[k] {
					t.Errorf("%s %s: sets %s, which %s never reads", w.Kind, w.Name, k, c.Image)
				}
			}
			for k := range required {
				if _, ok := env[k]; !ok {
					t.Errorf("%s %s: %s is required by %s and not set", w.Kind, w.Name, k, name)
				}
			}
		}
	}
	for name := range targets {
		if !seen[name] {
			t.Errorf("no workload runs scalelab/%s", name)
		}
	}
}

// listenPorts returns the ports a service listens on with this environment,
// by variable: each *_ADDR variable it reads, set or defaulted.
func listenPorts(t *testing.T, w Workload, name string, env map[string]string) map[string]int32 {
	t.Helper()
	ports := map[string]int32{}
	for v := range reads[name].Vars {
		if !strings.HasSuffix(v, "_ADDR") {
			continue
		}
		addr, set := env[v]
		if !set {
			addr = reads[name].Defaults[v]
			if v == "LISTEN_ADDR" && addr == "" {
				t.Errorf("%s %s: set LISTEN_ADDR (its default is not a literal the check can read)", w.Kind, w.Name)
			}
		}
		if addr == "" {
			continue // off
		}
		_, port, err := net.SplitHostPort(addr)
		n, err2 := strconv.Atoi(port)
		if err != nil || err2 != nil {
			t.Errorf("%s %s: %s=%q is not an address", w.Kind, w.Name, v, addr)
			continue
		}
		ports[v] = int32(n)
	}
	return ports
}

// Container ports are exactly the ports the service listens on; probes
// ask the admin port for paths its admin listener serves.
func TestPortsAndProbesMatchTheServices(t *testing.T) {
	paths, err := AdminPaths(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range rendered.Workloads {
		for _, c := range w.Pod.Spec.Containers {
			name := serviceImage(t, c.Image)
			if name == "" {
				continue
			}
			env := envOf(t, c)
			listen := listenPorts(t, w, name, env)
			for _, p := range c.Ports {
				if !slices.Contains(slices.Collect(maps.Values(listen)), p.ContainerPort) {
					t.Errorf("%s %s: port %s %d, but %s listens on %v", w.Kind, w.Name, p.Name, p.ContainerPort, name, listen)
				}
			}
			for v, port := range listen {
				if _, ok := PortNumber(c, "", port); !ok {
					t.Errorf("%s %s: %s listens on %d (%s) and no container port declares it", w.Kind, w.Name, name, port, v)
				}
			}
			admin := listen["ADMIN_ADDR"]
			for kind, want := range map[string]struct {
				probe *corev1.Probe
				path  string
			}{"readiness": {c.ReadinessProbe, "/readyz"}, "liveness": {c.LivenessProbe, "/healthz"}} {
				checkProbe(t, w, c, kind, want.probe, want.path, admin, paths)
			}
			if c.StartupProbe != nil {
				checkProbe(t, w, c, "startup", c.StartupProbe, "/readyz", admin, paths)
			}
		}
	}
}

func checkProbe(t *testing.T, w Workload, c corev1.Container, kind string, p *corev1.Probe, path string, admin int32, paths map[string]bool) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s %s: no HTTP %s probe", w.Kind, w.Name, kind)
		return
	}
	got, ok := PortNumber(c, p.HTTPGet.Port.StrVal, p.HTTPGet.Port.IntVal)
	if !ok || got != admin {
		t.Errorf("%s %s: %s probe on port %s, want the admin port %d", w.Kind, w.Name, kind, p.HTTPGet.Port.String(), admin)
	}
	if p.HTTPGet.Path != path || !paths[path] {
		t.Errorf("%s %s: %s probe asks %q, want %q (the admin listener serves %v)", w.Kind, w.Name, kind, p.HTTPGet.Path, path, slices.Sorted(maps.Keys(paths)))
	}
}
