package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A module of three packages: one with a test file built only with the
// tag (beside a plain one), one whose tagged file holds no test, one with
// no tag at all.
func TestTaggedTestsAreThoseOfTaggedFilesOnly(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":            "module m\n\ngo 1.26\n",
		"a/a.go":            "package a\n",
		"a/plain_test.go":   "package a\n\nimport \"testing\"\n\nfunc TestPlain(t *testing.T) {}\n",
		"a/db_test.go":      "//go:build containers\n\npackage a\n\nimport \"testing\"\n\nfunc TestMain(m *testing.M) {}\nfunc TestZ(t *testing.T) {}\nfunc TestDB(t *testing.T) {}\nfunc Testhelper(t *testing.T) {}\nfunc TestNotATest(s string) {}\nfunc BenchmarkDB(b *testing.B) {}\n",
		"a/ext_test.go":     "//go:build containers && !nothing\n\npackage a_test\n\nimport \"testing\"\n\nfunc TestExt(t *testing.T) {}\n",
		"b/b.go":            "package b\n",
		"b/helpers_test.go": "//go:build containers\n\npackage b\n\nfunc start() {}\n",
		"c/c_test.go":       "package c\n\nimport \"testing\"\n\nfunc TestC(t *testing.T) {}\n",
		"c/swarm_test.go":   "//go:build swarm\n\npackage c\n\nimport \"testing\"\n\nfunc TestSwarm(t *testing.T) {}\n",
	}
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("GOWORK", "off")
	t.Setenv("GOFLAGS", "")
	got, err := taggedTests(dir, "containers", []string{"./..."})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || strings.Join(got["m/a"], " ") != "TestDB TestExt TestZ" {
		t.Fatalf("tagged tests = %v, want only m/a: TestDB TestExt TestZ", got)
	}
}
