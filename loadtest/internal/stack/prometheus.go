package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Query runs an instant PromQL query on the stack's Prometheus and returns
// the sum of the values of the series it gives (0 for none).
func (s *Stack) Query(ctx context.Context, q string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	u := s.URL("PROMETHEUS_PORT") + "/api/v1/query?query=" + url.QueryEscape(q)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("prometheus: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("prometheus %q: %v", q, err)
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("prometheus %q: %s", q, body.Error)
	}
	sum := 0.0
	for _, r := range body.Data.Result {
		str, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return 0, fmt.Errorf("prometheus %q: value %q", q, str)
		}
		sum += v
	}
	return sum, nil
}

// Scraped waits until Prometheus has scraped every target after this call
// (the scrape interval is 5 s), so a counter read next includes everything
// that happened before.
func (s *Stack) Scraped(ctx context.Context) error {
	select {
	case <-time.After(6 * time.Second):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
