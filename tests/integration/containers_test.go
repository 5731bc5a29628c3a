//go:build containers

package integration

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
)

// image names a project image as `make images` tags it.
func image(service string) string {
	prefix, tag := os.Getenv("SCALELAB_IMAGE_PREFIX"), os.Getenv("SCALELAB_TAG")
	if prefix == "" {
		prefix = "scalelab"
	}
	if tag == "" {
		tag = "dev"
	}
	return prefix + "/" + service + ":" + tag
}

// newNetwork makes a private network, removed when the test ends, on which
// containers find each other by alias.
func newNetwork(t *testing.T) *testcontainers.DockerNetwork {
	t.Helper()
	nw, err := network.New(context.Background())
	testcontainers.CleanupNetwork(t, nw)
	if err != nil {
		t.Fatalf("create network: %v", err)
	}
	return nw
}

// startService runs a project image on nw under alias and waits until its
// admin port answers waitPath. It returns the host URL of the traffic port.
func startService(t *testing.T, nw *testcontainers.DockerNetwork, service, alias, waitPath string, env map[string]string) string {
	t.Helper()
	ctx := context.Background()
	vars := map[string]string{"LISTEN_ADDR": ":8080", "ADMIN_ADDR": ":9100", "LOG_LEVEL": "warn"}
	for k, v := range env {
		vars[k] = v
	}
	ctr, err := testcontainers.Run(ctx, image(service),
		testcontainers.WithEnv(vars),
		testcontainers.WithExposedPorts("8080/tcp", "9100/tcp"),
		network.WithNetwork([]string{alias}, nw),
		testcontainers.WithWaitStrategyAndDeadline(time.Minute,
			wait.ForHTTP(waitPath).WithPort("9100/tcp").WithStatusCodeMatcher(func(s int) bool { return s == 200 })),
	)
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatalf("start %s as %s: %v", service, alias, err)
	}
	endpoint, err := ctr.PortEndpoint(ctx, "8080/tcp", "http")
	if err != nil {
		t.Fatalf("%s endpoint: %v", alias, err)
	}
	return endpoint
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// metricValue returns the value of the first sample line of /metrics that
// starts with series, or "" when there is none.
func metricValue(t *testing.T, metricsURL, series string) string {
	t.Helper()
	_, body := get(t, metricsURL)
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, series+" ") {
			return strings.TrimPrefix(line, series+" ")
		}
	}
	return ""
}
