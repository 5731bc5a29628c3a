package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// sumSamples adds up every sample of the metric called name, in Prometheus'
// text exposition format, whose labels include all of want (other labels
// may vary: for db queries, the shard and the outcome).
//
// Matching parsed labels rather than a line prefix matters: a prefix such
// as `name{op="get"` silently depends on the label order the client
// library happens to print.
func sumSamples(exposition, name string, want map[string]string) (float64, error) {
	sums, err := sumBy(exposition, name, want, "")
	return sums[""], err
}

// sumBy is sumSamples split by the value of one label (e.g. result="hit",
// result="miss"); with by == "" everything lands under "".
func sumBy(exposition, name string, want map[string]string, by string) (map[string]float64, error) {
	sums := map[string]float64{}
	for n, line := range strings.Split(exposition, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d: %w", n+1, err)
		}
		if s.name == name && hasLabels(s.labels, want) {
			sums[s.labels[by]] += s.value
		}
	}
	return sums, nil
}

type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseSample parses one sample line: `name{k="v",...} value [timestamp]`
// or `name value [timestamp]`.
func parseSample(line string) (sample, error) {
	s := sample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, fmt.Errorf("no value in %q", line)
	}
	s.name = line[:i]
	rest := line[i:]
	if strings.HasPrefix(rest, "{") {
		var err error
		if s.labels, rest, err = parseLabels(rest[1:]); err != nil {
			return s, fmt.Errorf("%w in %q", err, line)
		}
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return s, fmt.Errorf("no value in %q", line)
	}
	v, err := strconv.ParseFloat(fields[0], 64) // also accepts NaN and +Inf
	if err != nil {
		return s, fmt.Errorf("bad value %q in %q", fields[0], line)
	}
	s.value = v
	return s, nil
}

// parseLabels reads `k="v",k2="v2"}` (the opening brace already consumed)
// and returns the labels and what follows the closing brace. Label values
// may hold any character, with \\, \" and \n escaped.
func parseLabels(s string) (map[string]string, string, error) {
	labels := map[string]string{}
	for {
		s = strings.TrimLeft(s, " ,")
		if strings.HasPrefix(s, "}") {
			return labels, s[1:], nil
		}
		key, after, ok := strings.Cut(s, `="`)
		if !ok || key == "" || strings.ContainsAny(key, `"{} `) {
			return nil, "", fmt.Errorf("bad label")
		}
		var val strings.Builder
		i := 0
		for ; i < len(after) && after[i] != '"'; i++ {
			c := after[i]
			if c == '\\' && i+1 < len(after) {
				i++
				c = after[i]
				if c == 'n' {
					c = '\n'
				}
			}
			val.WriteByte(c)
		}
		if i == len(after) {
			return nil, "", fmt.Errorf("unterminated label value")
		}
		labels[key] = val.String()
		s = after[i+1:]
	}
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// fetchMetrics returns a replica's /metrics page.
func fetchMetrics(ctx context.Context, client *http.Client, adminURL string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, adminURL+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s/metrics: %s", adminURL, resp.Status)
	}
	return string(body), nil
}
