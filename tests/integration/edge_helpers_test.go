//go:build containers

package integration

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
)

// edgeLab is one container of the CDN tests: its traffic and admin URLs,
// and the container, for stopping it.
type edgeLab struct {
	ctr          testcontainers.Container
	url, admin   string
	alias, image string
}

// startLab runs a project image (edge or origin) on nw under alias, with
// files copied in, waits until /readyz answers on its admin port and
// returns both ports' host URLs.
func startLab(t *testing.T, nw *testcontainers.DockerNetwork, service, alias string, env map[string]string, files ...testcontainers.ContainerFile) edgeLab {
	t.Helper()
	ctx := context.Background()
	vars := map[string]string{"LISTEN_ADDR": ":8080", "ADMIN_ADDR": ":9100", "LOG_LEVEL": "warn", "INSTANCE_ID": alias}
	for k, v := range env {
		vars[k] = v
	}
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithEnv(vars),
		testcontainers.WithExposedPorts("8080/tcp", "9100/tcp"),
		network.WithNetwork([]string{alias}, nw),
		testcontainers.WithWaitStrategyAndDeadline(time.Minute,
			wait.ForHTTP("/readyz").WithPort("9100/tcp").WithStatusCodeMatcher(func(s int) bool { return s == 200 })),
	}
	if len(files) > 0 {
		opts = append(opts, testcontainers.WithFiles(files...))
	}
	ctr, err := testcontainers.Run(ctx, image(service), opts...)
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatalf("start %s as %s: %v", service, alias, err)
	}
	traffic, err := ctr.PortEndpoint(ctx, "8080/tcp", "http")
	if err != nil {
		t.Fatalf("%s endpoint: %v", alias, err)
	}
	admin, err := ctr.PortEndpoint(ctx, "9100/tcp", "http")
	if err != nil {
		t.Fatalf("%s admin endpoint: %v", alias, err)
	}
	return edgeLab{ctr: ctr, url: traffic, admin: admin, alias: alias, image: service}
}

// configFile is a file to copy into a container.
func configFile(path, content string) testcontainers.ContainerFile {
	return testcontainers.ContainerFile{Reader: strings.NewReader(content), ContainerFilePath: path, FileMode: 0o644}
}

// answer is one response, its body read.
type answer struct {
	status int
	header http.Header
	body   string
}

// send makes one request with header pairs ("Name", "value", ...).
func send(t *testing.T, client *http.Client, method, url string, header ...string) answer {
	t.Helper()
	a, err := trySend(client, method, url, header...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return a
}

func trySend(client *http.Client, method, url string, header ...string) (answer, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return answer{}, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	return answer{resp.StatusCode, resp.Header, string(b)}, nil
}

// metric reads one series from a service's /metrics as a number (0 when
// absent).
func metric(t *testing.T, s edgeLab, series string) float64 {
	t.Helper()
	v := metricValue(t, s.admin+"/metrics", series)
	if v == "" {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatalf("%s %s = %q: %v", s.alias, series, v, err)
	}
	return f
}

// eventually polls cond every 100 ms for up to limit.
func eventually(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond) // containers' state: nothing to wait on but time
	}
}

// Series the CDN tests read.
const (
	originFileFetches  = `scalelab_origin_http_requests_total{code="2xx",method="GET",route="/"}`
	originFileNotMod   = `scalelab_origin_http_requests_total{code="3xx",method="GET",route="/"}`
	edgeNotModified    = `scalelab_edge_revalidations_total{result="not_modified"}`
	edgeStoredBytes    = `scalelab_edge_cache_stored_bytes`
	edgeCapacity       = `scalelab_edge_cache_capacity_bytes`
	edgeEvictions      = `scalelab_edge_cache_evictions_total`
	edgeStaleIfError   = `scalelab_edge_stale_answers_total{reason="if_error"}`
	edgeCollapsed      = `scalelab_edge_collapsed_requests_total`
	processResidentMem = `process_resident_memory_bytes`
)
