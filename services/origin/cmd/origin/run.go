package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"scalelab/services/origin/internal/assets"
	"scalelab/services/origin/internal/fault"
	"scalelab/services/origin/internal/files"
	"scalelab/services/platform"
)

// run reads the configuration, makes sure there is something to serve, and
// serves it until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := platform.NewEnv(getenv)
	base := platform.LoadBase(env, ":8080")
	dir := env.String("ASSETS_DIR", "/assets")
	cacheControl := env.String("ORIGIN_CACHE_CONTROL", "public, max-age=60")
	generate := env.Bool("ORIGIN_GENERATE_ASSETS", true)
	videoSize := env.Bytes("ORIGIN_VIDEO_SIZE", 8<<20, 1)
	configFile := env.String("ORIGIN_CONFIG", "")
	adminToken := env.String("ORIGIN_ADMIN_TOKEN", "")
	servedBy := env.InstanceID()
	var rules files.Rules
	if configFile != "" {
		var err error
		if rules, err = readRules(configFile); err != nil {
			env.Fail("ORIGIN_CONFIG", err)
		}
	}
	if err := env.Err(); err != nil {
		return err
	}

	svc := platform.New("origin", base, stdout)
	if generate {
		written, err := writeDemoAssets(dir, videoSize)
		if err != nil {
			return err
		}
		if len(written) > 0 {
			svc.Logger.Info("wrote demo assets", "dir", dir, "files", written, "video_bytes", videoSize)
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("ASSETS_DIR: %w", err)
	}
	defer root.Close()
	svc.AddReadyCheck("assets_dir", func(context.Context) error {
		_, err := root.Stat(".")
		return err
	})

	servedBytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scalelab_origin_served_bytes_total",
		Help: "Response body bytes sent, by route template. Behind edges, this is what caching saves.",
	}, []string{"route"})
	svc.Registry.MustRegister(servedBytes)

	// The failure switch sits inside each route, so that the requests it
	// fails are counted as that route's 5xx.
	sw := fault.New(adminToken, svc.Registry)
	svc.HandleAdmin("/fail", sw.Handler())
	go func() {
		<-ctx.Done()
		sw.Release() // shutting down: no hung request may hold it up
	}()

	mux := http.NewServeMux()
	route := func(pattern string, h http.Handler) {
		svc.HTTP.Handle(mux, pattern, countBytes(servedBytes.WithLabelValues(pattern), sw.Wrap(h)))
	}
	route("GET /api/time", timeHandler(time.Now, servedBy))
	route("/", files.New(root, cacheControl, rules...))
	svc.Logger.Info("origin configured", "assets_dir", dir, "cache_control", cacheControl,
		"config", configFile, "rules", len(rules), "fail_switch", adminToken != "", "served_by", servedBy)
	// X-Served-By outside the mux: its own answers (redirects) carry it too.
	return svc.Run(ctx, platform.ServedBy(servedBy, mux))
}

// writeDemoAssets fills dir with the demo files when it has no video.mp4,
// so `docker compose up` shows something with no setup. A folder mounted
// with real assets (a video.mp4 included) is never touched.
func writeDemoAssets(dir string, videoSize int64) ([]string, error) {
	_, err := os.Stat(filepath.Join(dir, assets.Video))
	if err == nil {
		return nil, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("ASSETS_DIR %q: %w", dir, err)
	}
	written, err := assets.WriteMissing(dir, videoSize)
	if err != nil {
		return nil, fmt.Errorf("ASSETS_DIR %q: cannot write the demo assets (mount a writable folder, or set ORIGIN_GENERATE_ASSETS=false): %w", dir, err)
	}
	return written, nil
}

// timeHandler answers the origin's clock. Unlike the files, it changes every
// second, and its short max-age lets you watch an edge serve the same time
// for 5 seconds (Age climbing) and then fetch a new one.
func timeHandler(now func() time.Time, servedBy string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := now()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=5")
		w.Header().Set("Surrogate-Key", "api time")
		json.NewEncoder(w).Encode(struct {
			Time     string `json:"time"`
			UnixMs   int64  `json:"unix_ms"`
			ServedBy string `json:"served_by"`
		}{t.UTC().Format(time.RFC3339Nano), t.UnixMilli(), servedBy})
	})
}

// countBytes counts the body bytes sent.
func countBytes(served prometheus.Counter, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &platform.CountingWriter{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		served.Add(float64(cw.N))
	})
}

// readRules reads the Cache-Control rules of ORIGIN_CONFIG.
func readRules(name string) (files.Rules, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rules, err := files.ParseRules(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return rules, nil
}
