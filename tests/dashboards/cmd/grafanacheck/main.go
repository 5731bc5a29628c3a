// Command grafanacheck checks a running Grafana through its HTTP API: it is
// healthy, every dashboard of package dashboards was provisioned (a file
// Grafana could not load is missing from its search) with the panels the
// definitions have, and every panel's query returns data through Grafana's
// Prometheus datasource. The GitHub workflow runs it on the stack started
// with GRAFANA=1, under load.
//
//	grafanacheck -grafana http://127.0.0.1:3000 -user admin -password ... -wait 90s
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"scalelab/tests/dashboards"
)

type grafana struct {
	base, user, password string
	client               *http.Client
}

func main() {
	g := grafana{client: &http.Client{Timeout: 20 * time.Second}}
	flag.StringVar(&g.base, "grafana", "http://127.0.0.1:3000", "Grafana's address")
	flag.StringVar(&g.user, "user", "admin", "Grafana user")
	flag.StringVar(&g.password, "password", os.Getenv("GRAFANA_ADMIN_PASSWORD"), "its password (default $GRAFANA_ADMIN_PASSWORD)")
	wait := flag.Duration("wait", 90*time.Second, "how long panels may take to get data")
	flag.Parse()
	if g.password == "" {
		g.password = "scalelab-lab-only" // docker-compose.yml's default
	}
	problems := check(g, *wait)
	if len(problems) > 0 {
		fmt.Fprintf(os.Stderr, "grafanacheck: %d problems:\n  %s\n", len(problems), strings.Join(problems, "\n  "))
		os.Exit(1)
	}
}

func check(g grafana, wait time.Duration) []string {
	var health struct {
		Database string `json:"database"`
	}
	if err := g.do("GET", "/api/health", nil, &health); err != nil || health.Database != "ok" {
		return []string{fmt.Sprintf("health: database %q, %v", health.Database, err)}
	}
	var problems []string
	var found []struct {
		UID string `json:"uid"`
	}
	if err := g.do("GET", "/api/search?type=dash-db&tag=scalelab", nil, &found); err != nil {
		return []string{"search: " + err.Error()}
	}
	have := map[string]bool{}
	for _, f := range found {
		have[f.UID] = true
	}
	for _, d := range dashboards.All() {
		if !have[d.UID] {
			problems = append(problems, fmt.Sprintf("%s (%s) was not provisioned: see Grafana's log for the file's error", d.UID, d.File))
			continue
		}
		problems = append(problems, checkPanels(g, d)...)
	}
	if len(problems) > 0 {
		return problems
	}
	// Scrapes and rules run every 5 s; give the panels a few rounds.
	deadline := time.Now().Add(wait)
	for {
		problems = problems[:0]
		for expr, where := range dashboards.Exprs(dashboards.All()) {
			n, err := g.points(expr)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %s: %v", strings.Join(where, ", "), expr, err))
			} else if n == 0 {
				problems = append(problems, fmt.Sprintf("%s: no data: %s", strings.Join(where, ", "), expr))
			}
		}
		if len(problems) == 0 || time.Now().After(deadline) {
			sort.Strings(problems)
			return problems
		}
		time.Sleep(5 * time.Second) // Prometheus scrapes on its own clock: nothing to wait on but time
	}
}

// checkPanels compares the provisioned dashboard with its definition.
func checkPanels(g grafana, d dashboards.Dashboard) []string {
	var got struct {
		Dashboard struct {
			Panels []struct {
				Type  string `json:"type"`
				Title string `json:"title"`
			} `json:"panels"`
		} `json:"dashboard"`
		Meta struct {
			Provisioned bool `json:"provisioned"`
		} `json:"meta"`
	}
	if err := g.do("GET", "/api/dashboards/uid/"+d.UID, nil, &got); err != nil {
		return []string{d.UID + ": " + err.Error()}
	}
	var want, titles []string
	for _, r := range d.Rows {
		for _, p := range r.Panels {
			want = append(want, p.Title)
		}
	}
	for _, p := range got.Dashboard.Panels {
		if p.Type != "row" {
			titles = append(titles, p.Title)
		}
	}
	var problems []string
	if !got.Meta.Provisioned {
		problems = append(problems, d.UID+": not marked as provisioned")
	}
	if strings.Join(titles, "|") != strings.Join(want, "|") {
		problems = append(problems, fmt.Sprintf("%s: Grafana has panels %q, the definition %q", d.UID, titles, want))
	}
	return problems
}

// points runs expr as an instant query through Grafana's datasource API and
// counts the numbers (not null, which is how Grafana sends NaN) it returns.
func (g grafana) points(expr string) (int, error) {
	req := map[string]any{
		"from": "now-5m", "to": "now",
		"queries": []map[string]any{{
			"refId": "A", "expr": expr, "instant": true, "range": false,
			"datasource": map[string]string{"type": "prometheus", "uid": "prometheus"},
		}},
	}
	var resp dsResponse
	if err := g.do("POST", "/api/ds/query", req, &resp); err != nil {
		return 0, err
	}
	return resp.numbers("A")
}

// dsResponse is the part of /api/ds/query's answer read here: per query,
// an error or data frames whose first column is the time.
type dsResponse struct {
	Results map[string]struct {
		Error  string `json:"error"`
		Frames []struct {
			Data struct {
				Values [][]any `json:"values"`
			} `json:"data"`
		} `json:"frames"`
	} `json:"results"`
}

func (d dsResponse) numbers(refID string) (int, error) {
	r, ok := d.Results[refID]
	if !ok {
		return 0, fmt.Errorf("no result for query %s", refID)
	}
	if r.Error != "" {
		return 0, fmt.Errorf("%s", r.Error)
	}
	n := 0
	for _, f := range r.Frames {
		// values[0] is the time column; the rest are series.
		for i := 1; i < len(f.Data.Values); i++ {
			for _, v := range f.Data.Values[i] {
				if _, ok := v.(float64); ok {
					n++
				}
			}
		}
	}
	return n, nil
}

func (g grafana) do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(g.base, "/")+path, rd)
	if err != nil {
		return err
	}
	req.SetBasicAuth(g.user, g.password)
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %.300s", method, path, resp.Status, b)
	}
	return json.Unmarshal(b, out)
}
