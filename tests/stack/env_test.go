package stack

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// writeEnv runs deploy/write-env.sh on dir with exactly the variables env.
func writeEnv(t *testing.T, dir string, env ...string) string {
	t.Helper()
	script, err := filepath.Abs("../../deploy/write-env.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(script, dir)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("write-env.sh: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, ".env"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMakeUpWritesItsChoicesIntoEnvAndKeepsTheUsersLines(t *testing.T) {
	dir := t.TempDir()
	compose, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), compose, 0o644); err != nil {
		t.Fatal(err)
	}
	const user = "# mine\nPOSTGRES_PASSWORD=secret\nLB_PORT=9000\n"
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(user), 0o644); err != nil {
		t.Fatal(err)
	}

	got := writeEnv(t, dir, "COMPOSE_PROJECT_NAME=scalelab", "IMAGES=local",
		"REDIS_IMAGE=scalelab/redis:dev", "ORIGIN_CACHE_CONTROL=public, max-age=5",
		"LB_PORT=18000", "NOT_A_COMPOSE_VARIABLE=x")
	const first = user +
		"# >>> written by `make up` (rewritten by each; lines outside this block are yours and win)\n" +
		"# images: IMAGES=local\n" +
		"COMPOSE_PROJECT_NAME='scalelab'\n" +
		"ORIGIN_CACHE_CONTROL='public, max-age=5'\n" +
		"REDIS_IMAGE='scalelab/redis:dev'\n" +
		"# <<< written by `make up`\n"
	if got != first {
		t.Fatalf("first make up wrote\n%s\nwant\n%s", got, first)
	}

	// The next make up rewrites the block from its own environment only.
	got = writeEnv(t, dir, "COMPOSE_PROJECT_NAME=other", "SCALELAB_TAG=ci")
	const second = user +
		"# >>> written by `make up` (rewritten by each; lines outside this block are yours and win)\n" +
		"COMPOSE_PROJECT_NAME='other'\n" +
		"SCALELAB_TAG='ci'\n" +
		"# <<< written by `make up`\n"
	if got != second {
		t.Fatalf("second make up wrote\n%s\nwant\n%s", got, second)
	}
}
