package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"scalelab/loadtest/internal/loadgen"
)

// profileSeconds is how long the profiled hit load runs.
const profileSeconds = 4

// profileHits writes a CPU profile of one replica serving the hit load
// (BENCHAPI_PROFILE=file): a run of its own after the measurements, so
// the profiler's cost never touches the numbers printed. Read it with
// `go tool pprof -top FILE`.
func profileHits(ctx context.Context, api *replica, path string) error {
	got := make(chan error, 1)
	go func() { got <- fetchProfile(ctx, api.adminURL, path) }()
	cfg := loadgen.DefaultConfig()
	cfg.URLs, cfg.IDs = []string{userURL(api)}, &loadgen.IDRange{Lo: 1, Hi: hotIDs}
	cfg.N, cfg.Concurrency = loadgen.MaxRequests, concurrency        // Duration ends it
	cfg.Duration = profileSeconds*time.Second + 500*time.Millisecond // covers the profile's window
	if _, err := loadgen.Run(ctx, cfg); err != nil {
		return err
	}
	return <-got
}

// fetchProfile saves /debug/pprof/profile of the admin listener to path.
func fetchProfile(ctx context.Context, adminURL, path string) error {
	url := adminURL + "/debug/pprof/profile?seconds=" + strconv.Itoa(profileSeconds)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
