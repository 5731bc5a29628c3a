package swarm

import (
	"maps"
	"os"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Environment map[string]string `yaml:"environment"`
		Command     []string          `yaml:"command"`
		Profiles    []string          `yaml:"profiles"`
	} `yaml:"services"`
}

func readCompose(t *testing.T, path string) composeFile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return f
}

// The swarm stack is a file of its own (see its header); this keeps it
// in step with docker-compose.yml: the same services, images, commands
// and environment, but for the differences swarm needs, named here.
func TestStackFileMatchesCompose(t *testing.T) {
	compose := readCompose(t, "../../docker-compose.yml")
	swarm := readCompose(t, "../../deploy/swarm/stack.yml")
	swarmOnly := map[string]map[string]string{
		// tasks.api: swarm's name for every api task (api is one virtual IP).
		"lb": {"LB_BACKENDS": "${LB_BACKENDS:-dns://tasks.api:8080}"},
		// Time for the lb to see a stopping task leave tasks.api.
		"api": {"DRAIN_DELAY": "4s"},
	}
	composeOnly := map[string]bool{"grafana": true} // needs a registry; not part of the swarm stack

	var want []string
	for name := range compose.Services {
		// A service in a profile runs on demand (shardctl, k6, grafana):
		// the stack holds what `up` starts.
		if !composeOnly[name] && len(compose.Services[name].Profiles) == 0 {
			want = append(want, name)
		}
	}
	if got := slices.Sorted(maps.Keys(swarm.Services)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Fatalf("swarm services %v, compose services %v", got, slices.Sorted(slices.Values(want)))
	}
	for _, name := range want {
		c, s := compose.Services[name], swarm.Services[name]
		if c.Image != s.Image {
			t.Errorf("%s: image %q in the stack, %q in compose", name, s.Image, c.Image)
		}
		if !slices.Equal(c.Command, s.Command) {
			t.Errorf("%s: command %q in the stack, %q in compose", name, s.Command, c.Command)
		}
		wantEnv := maps.Clone(c.Environment)
		maps.Copy(wantEnv, swarmOnly[name])
		for k, v := range wantEnv {
			if got, ok := s.Environment[k]; !ok || got != v {
				t.Errorf("%s: %s is %q in the stack, want %q", name, k, got, v)
			}
		}
		for k := range s.Environment {
			if _, ok := wantEnv[k]; !ok {
				t.Errorf("%s: %s is set in the stack only", name, k)
			}
		}
	}
}
