package lab

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// TargetsUp waits (at most 90 s) until Prometheus has exactly want active
// targets, every one up.
func TargetsUp(t *testing.T, e Endpoints, want int) {
	t.Helper()
	var last string
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		up, total, down := targets(t, e)
		if total == want && up == want {
			return
		}
		last = fmt.Sprintf("%d of %d targets up (want %d), down: %v", up, total, want, down)
		time.Sleep(2 * time.Second) // Prometheus scrapes on its own clock: nothing to wait on but time
	}
	t.Fatal(last)
}

// DashboardHasData sends some traffic, then waits (at most 90 s) until every
// PromQL query of the Grafana dashboard at path returns data.
func DashboardHasData(t *testing.T, e Endpoints, path string) {
	t.Helper()
	for i := 0; i < 20; i++ {
		Get(t, e.LB+fmt.Sprintf("/users/%d", 1+i%5))
		Get(t, e.EdgeNewYork+"/index.html")
	}
	exprs := dashboardQueries(t, path)
	if len(exprs) < 10 {
		t.Fatalf("only %d queries in the dashboard", len(exprs))
	}
	var empty []string
	deadline := time.Now().Add(90 * time.Second)
	for {
		empty = empty[:0]
		for _, q := range exprs {
			if n := query(t, e, q); n == 0 {
				empty = append(empty, q)
			}
		}
		if len(empty) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(3 * time.Second) // Prometheus scrapes on its own clock: nothing to wait on but time
	}
	if len(empty) > 0 {
		t.Fatalf("%d of %d panel queries return no data:\n%s", len(empty), len(exprs), strings.Join(empty, "\n"))
	}
}

func targets(t *testing.T, e Endpoints) (up, total int, down []string) {
	t.Helper()
	a := Get(t, e.Prometheus+"/api/v1/targets?state=active")
	var r struct {
		Data struct {
			ActiveTargets []struct {
				ScrapeURL string `json:"scrapeUrl"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(a.Body), &r); err != nil {
		t.Fatalf("targets: %v: %s", err, a.Body)
	}
	for _, tg := range r.Data.ActiveTargets {
		total++
		if tg.Health == "up" {
			up++
		} else {
			down = append(down, tg.ScrapeURL+" "+tg.Health+" "+tg.LastError)
		}
	}
	return up, total, down
}

// query runs an instant PromQL query and returns the number of series; an
// invalid query fails the test.
func query(t *testing.T, e Endpoints, expr string) int {
	t.Helper()
	a := Get(t, e.Prometheus+"/api/v1/query?query="+url.QueryEscape(expr))
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(a.Body), &r); err != nil || r.Status != "success" {
		t.Fatalf("query %q: %s %s", expr, r.Error, a.Body)
	}
	return len(r.Data.Result)
}

// dashboardQueries returns every PromQL expression of a Grafana dashboard.
func dashboardQueries(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var exprs []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if tg.Expr != "" {
				exprs = append(exprs, tg.Expr)
			}
		}
	}
	return exprs
}
