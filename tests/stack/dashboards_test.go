//go:build containers

package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"scalelab/tests/dashboards"
	"scalelab/tests/dashboards/view"
)

// testDashboards drives a short load through every service, then checks
// that every panel of every dashboard has data in the live Prometheus, and
// that the offline view shows it in a real browser with no error. The
// screenshots are kept in artifacts/dashboards at the repository root.
func testDashboards(t *testing.T, s *stack) {
	driveLoad(t, s.root)
	// A trickle of requests while the checks run, so that rates and
	// quantiles over the last minute are not yet back to nothing.
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); trickle(ctx) }()
	defer func() { stop(); wg.Wait() }()

	t.Run("every panel's query returns data", func(t *testing.T) {
		exprs := dashboards.Exprs(dashboards.All())
		if len(exprs) < 40 {
			t.Fatalf("only %d queries in the dashboards", len(exprs))
		}
		// Scrapes and rule evaluations run every 5 s: allow a few rounds.
		var empty []string
		deadline := time.Now().Add(60 * time.Second)
		for {
			empty = empty[:0]
			for e, where := range exprs {
				if n := finiteSeries(t, e); n == 0 {
					empty = append(empty, strings.Join(where, ", ")+": "+e)
				}
			}
			if len(empty) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(3 * time.Second) // Prometheus scrapes on its own clock: nothing to wait on but time
		}
		sort.Strings(empty)
		if len(empty) > 0 {
			t.Fatalf("%d of %d panel queries return no data:\n%s", len(empty), len(exprs), strings.Join(empty, "\n"))
		}
	})

	t.Run("the offline view shows every panel with data in Chromium", func(t *testing.T) {
		bctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		b, err := view.Start(bctx, 1600, 1000)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		artifacts := filepath.Join(s.root, "artifacts", "dashboards")
		if err := os.MkdirAll(artifacts, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, d := range dashboards.All() {
			// 7 minutes is not in the view's menu: the view must take any
			// range, as make dashboards-png passes one.
			u := view.DashboardURL(url_("PROMETHEUS_PORT", ""), d.UID, 420)
			p, err := b.Open(u, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			panels, err := p.Panels()
			if err != nil {
				t.Fatal(err)
			}
			if png, err := p.Screenshot(); err != nil {
				t.Errorf("%s: screenshot: %v", d.File, err)
			} else {
				path := filepath.Join(artifacts, strings.TrimSuffix(d.File, ".json")+".png")
				if err := os.WriteFile(path, png, 0o644); err != nil {
					t.Error(err)
				}
				t.Logf("%s: %d panels, screenshot %s", d.File, len(panels), path)
			}
			want := 0
			for _, r := range d.Rows {
				want += len(r.Panels)
			}
			if len(panels) != want {
				t.Errorf("%s: the page shows %d panels, the dashboard has %d", d.File, len(panels), want)
			}
			for _, pn := range panels {
				if pn.State != "ok" {
					t.Errorf("%s: panel %q is %s: %s", d.File, pn.Title, pn.State, pn.Msg)
				}
			}
			for _, e := range p.Errors() {
				t.Errorf("%s: the page logged: %s", d.File, e)
			}
			p.Close()
		}
	})
}

// driveLoad runs loadgen against every service at once, for about 20 s:
// reads of existing and missing users, writes and orders through the L7
// port, requests through the L4 port, both edges and the origin.
func driveLoad(t *testing.T, root string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "loadgen")
	build := exec.Command("go", "build", "-o", bin, "./loadtest/cmd/loadgen")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build loadgen: %v\n%s", err, out)
	}
	lb, l4 := url_("LB_PORT", ""), url_("LB_L4_PORT", "")
	runs := [][]string{
		{"-url", lb + "/users/{id}", "-ids", "1-300", "-zipf", "1.1", "-n", "6000", "-c", "4"},
		{"-url", lb + "/users/{id}", "-ids", "900001-900040", "-n", "400", "-c", "1"},
		{"-url", lb + "/users/{id}", "-method", "PUT", "-body", `{"name":"dashboards","email":"dash@example.com"}`,
			"-H", "Content-Type: application/json", "-ids", "1-30", "-n", "150", "-c", "1"},
		{"-url", lb + "/users/{id}/orders", "-method", "POST", "-body", `{"item":"book","quantity":1,"amount_cents":1200}`,
			"-H", "Content-Type: application/json", "-ids", "1-30", "-n", "150", "-c", "1"},
		{"-url", lb + "/users/{id}/orders", "-ids", "1-30", "-n", "300", "-c", "1"},
		{"-url", l4 + "/", "-n", "600", "-c", "2"},
		{"-url", url_("EDGE_SYDNEY_PORT", "/") + "," + url_("EDGE_SYDNEY_PORT", "/logo.png") + "," + url_("EDGE_SYDNEY_PORT", "/index.html"),
			"-n", "1500", "-c", "4"},
		{"-url", url_("EDGE_NEWYORK_PORT", "/") + "," + url_("EDGE_NEWYORK_PORT", "/logo.png") + "," + url_("EDGE_NEWYORK_PORT", "/index.html"),
			"-n", "1500", "-c", "4"},
		{"-url", url_("ORIGIN_PORT", "/index.html"), "-n", "200", "-c", "1"},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(runs))
	for i, args := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(bin, append(args, "-duration", "20s", "-json")...)
			out, err := cmd.Output()
			if err != nil {
				errs[i] = fmt.Errorf("loadgen %s: %v", strings.Join(args, " "), err)
				return
			}
			var rep struct {
				Method     string         `json:"method"`
				URLs       []string       `json:"urls"`
				Requests   int            `json:"requests"`
				Status     map[string]int `json:"status"`
				Throughput float64        `json:"throughput_rps"`
			}
			if err := json.Unmarshal(out, &rep); err != nil {
				errs[i] = fmt.Errorf("loadgen %s: %v: %s", strings.Join(args, " "), err, out)
				return
			}
			t.Logf("loadgen %s %s: %d requests (%.0f/s), status %v", rep.Method, rep.URLs[0], rep.Requests, rep.Throughput, rep.Status)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// trickle sends a few requests a second through the lb and the edges until
// ctx ends: hits, and misses that reach a shard, the orders server and the
// origin, so that the latency panels (quantiles of the last minute's
// observations) have some to show however long the checks take.
func trickle(ctx context.Context) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, u := range []string{
			url_("LB_PORT", fmt.Sprintf("/users/%d", 1+i%50)),
			url_("LB_PORT", fmt.Sprintf("/users/%d", 1000+i)), // a miss: a shard read
			url_("LB_PORT", fmt.Sprintf("/users/%d/orders", 1+i%30)),
			url_("EDGE_SYDNEY_PORT", "/logo.png"),
			url_("EDGE_NEWYORK_PORT", "/index.html"),
			url_("EDGE_NEWYORK_PORT", fmt.Sprintf("/logo.png?trickle=%d", i)), // a miss: an origin fetch
		} {
			if resp, err := client.Get(u); err == nil {
				resp.Body.Close()
			}
		}
	}
}

// finiteSeries runs an instant query and counts the series whose value is a
// number (a quantile of no requests is NaN: no data to draw). An invalid
// query fails the test.
func finiteSeries(t *testing.T, expr string) int {
	t.Helper()
	a := get(t, url_("PROMETHEUS_PORT", "/api/v1/query?query="+url.QueryEscape(expr)))
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(a.body), &r); err != nil || r.Status != "success" {
		t.Fatalf("query %q: %s %s", expr, r.Error, a.body)
	}
	n := 0
	for _, s := range r.Data.Result {
		if v, _ := s.Value[1].(string); v != "NaN" && v != "+Inf" && v != "-Inf" {
			n++
		}
	}
	return n
}
