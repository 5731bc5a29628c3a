package proc

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestParseStat(t *testing.T) {
	// A command name with spaces and parentheses, as /proc allows.
	line := []byte("4242 (nginx: worker (x)) S 4240 4240 4240 0 -1 4194624 300 0 0 0 123 45 0 0 20 0 1 0 100 0 0\n")
	pg, ticks, ok := parseStat(line)
	if !ok || pg != 4240 || ticks != 168 {
		t.Fatalf("parseStat = %d, %d, %v; want group 4240, 123+45 ticks", pg, ticks, ok)
	}
	if _, _, ok := parseStat([]byte("garbage")); ok {
		t.Fatal("parseStat accepted a line without fields")
	}
}

func TestWorkspaceRoot(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "loadtest", "cmd", "benchapi")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.work"), []byte("go 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{root, deep} {
		got, err := WorkspaceRoot(dir)
		if err != nil || got != root {
			t.Errorf("WorkspaceRoot(%s) = %q, %v; want %q", dir, got, err, root)
		}
	}
	if _, err := WorkspaceRoot(t.TempDir()); err == nil {
		t.Error("no go.work above a fresh temp dir, yet no error")
	}
}

// A group keeps what it started and stops all of it; a start that fails
// adds nothing.
func TestGroupStartAndStop(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatalf("sleep is not in PATH: %v", err)
	}
	var g Group
	a, err := g.Start("a", t.TempDir(), sleep, []string{"60"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Start("b", t.TempDir(), filepath.Join(t.TempDir(), "missing"), nil, nil); err == nil {
		t.Fatal("a missing binary started")
	}
	if len(g) != 1 || g[0] != a {
		t.Fatalf("group %v, want only a", g)
	}
	g.Stop()
	select {
	case <-a.exited:
	default:
		t.Fatal("a still runs after the group stopped")
	}
}
