package loadgen

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The k6 scripts in loadtest/k6 are the same scenarios for users who have
// k6: one module per scenario, named after it. k6 cannot run here (no
// registry for its image, and it cannot be a Go dependency), so this checks
// what can be: every scenario has both forms, each module is valid
// JavaScript (node --check, as ES modules: loadtest/k6/package.json says
// so), and it requests the paths of the scenario's steps.
const k6Dir = "../../k6"

func TestEveryScenarioHasAK6Script(t *testing.T) {
	for name, s := range Scenarios {
		src, err := os.ReadFile(filepath.Join(k6Dir, name+".js"))
		if err != nil {
			t.Errorf("scenario %s has no k6 form: %v", name, err)
			continue
		}
		if !strings.HasPrefix(string(src), "// scenario "+name+":") {
			t.Errorf("%s.js does not begin with \"// scenario %s:\"", name, name)
		}
		for _, st := range s.Steps {
			// "/users/{id}" is written `${target}/users/${id}` in k6.
			prefix, _, _ := strings.Cut(st.Path, "{id}")
			if !strings.Contains(string(src), "${target}"+prefix) || !strings.Contains(string(src), "http."+strings.ToLower(st.Method)) {
				t.Errorf("%s.js: no http.%s of ${target}%s for step %s", name, strings.ToLower(st.Method), prefix, st.Name)
			}
		}
	}
	modules, _ := filepath.Glob(filepath.Join(k6Dir, "*.js"))
	for _, m := range modules {
		if name := strings.TrimSuffix(filepath.Base(m), ".js"); Scenarios[name] == nil {
			t.Errorf("k6 script %s has no loadgen scenario of that name", filepath.Base(m))
		}
	}
}

func TestK6ScriptsParse(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is needed to check the k6 scripts' syntax (apt-get install nodejs)")
	}
	modules, _ := filepath.Glob(filepath.Join(k6Dir, "*.js"))
	lib, _ := filepath.Glob(filepath.Join(k6Dir, "lib", "*.js"))
	if len(modules) < len(Scenarios) || len(lib) == 0 {
		t.Fatalf("found %d scripts and %d library modules", len(modules), len(lib))
	}
	for _, m := range append(modules, lib...) {
		if out, err := exec.Command(node, "--check", m).CombinedOutput(); err != nil {
			t.Errorf("node --check %s: %v\n%s", m, err, out)
		}
	}
}
