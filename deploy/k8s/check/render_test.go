package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBaseAndOverlayRenderStrictly(t *testing.T) {
	for _, dir := range []string{"../base", overlay} {
		objs, err := Render(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) < 30 {
			t.Errorf("%s renders %d objects, want the whole lab (30 or more)", dir, len(objs))
		}
	}
}

// A copy of the manifests with one field misspelt must not render: the
// strict decoding is what catches what kubectl would silently drop.
func TestAMisspeltFieldFails(t *testing.T) {
	for _, c := range []struct{ file, from, to string }{
		{"base/api.yaml", "readinessProbe:", "readinesProbe:"},
		{"base/postgres.yaml", "volumeClaimTemplates:", "volumeClaimTemplate:"},
		{"overlays/kind/nodeports.yaml", "nodePort: 30000", "nodeport: 30000"},
	} {
		dir := copyManifests(t)
		path := filepath.Join(dir, c.file)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), c.from) {
			t.Fatalf("%s has no %q", c.file, c.from)
		}
		os.WriteFile(path, []byte(strings.Replace(string(b), c.from, c.to, 1)), 0o644)
		_, err = Render(filepath.Join(dir, "overlays/kind"))
		if err == nil || !strings.Contains(err.Error(), "unknown field") {
			t.Errorf("%s with %q: render error %v, want an unknown field", c.file, c.to, err)
		}
	}
}

// copyManifests copies deploy/k8s's base and overlays into a temporary
// folder.
func copyManifests(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	for _, sub := range []string{"base", "overlays"} {
		err := filepath.WalkDir(filepath.Join("..", sub), func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel("..", path)
			if d.IsDir() {
				return os.MkdirAll(filepath.Join(dst, rel), 0o755)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestSchemaCopiesMatchTheServices(t *testing.T) {
	for copy, original := range map[string]string{
		"../base/users-schema.sql":  root + "/services/api/internal/store/schema.sql",
		"../base/orders-schema.sql": root + "/services/api/internal/orders/schema.sql",
	} {
		a, err1 := os.ReadFile(copy)
		b, err2 := os.ReadFile(original)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if string(a) != string(b) {
			t.Errorf("%s differs from %s: copy it again", copy, original)
		}
	}
}
