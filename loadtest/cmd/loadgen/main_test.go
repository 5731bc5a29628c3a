package main

import (
	"bytes"
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

	"scalelab/loadtest/internal/loadgen"
)

func TestParseFlagsBad(t *testing.T) {
	const u = "http://localhost:8000/"
	tests := []struct {
		args []string
		want string // substring of the error
	}{
		{nil, "-url or -scenario is required"},
		{[]string{"-url", "localhost:8000"}, "absolute http"},
		{[]string{"-url", "ftp://x/"}, "absolute http"},
		{[]string{"-url", u, "-n", "-1"}, "-n must be between"},
		{[]string{"-url", u, "-n", "10000001"}, "-n must be between"},
		{[]string{"-url", u, "-n", "lots"}, "invalid value"},
		{[]string{"-url", u, "-c", "0"}, "-c must be between"},
		{[]string{"-url", u, "-c", "1025"}, "-c must be between"},
		{[]string{"-url", u, "-duration", "0"}, "-duration must be > 0"},
		{[]string{"-url", u, "-timeout", "-1s"}, "-timeout must be > 0"},
		{[]string{"-url", u, "-method", "GE T"}, "-method"},
		{[]string{"-url", u, "-H", "no-colon"}, "-H"},
		{[]string{"-url", u, "-H", ": empty"}, "-H"},
		{[]string{"-url", u + "users/{id}"}, "-ids is not set"},
		{[]string{"-url", u, "-ids", "1-10"}, "no URL, body or scenario step contains {id}"},
		{[]string{"-url", u + "{id}", "-ids", "10-1"}, "-ids"},
		{[]string{"-url", u + "{id}", "-ids", "a-b"}, "-ids"},
		{[]string{"-url", u + "{id}", "-ids", "-5"}, "-ids"},
		{[]string{"-url", u + "{id}", "-ids", "1-10", "-zipf", "-1"}, "-zipf must be >= 0"},
		{[]string{"-url", u, "-zipf", "1.1"}, "-zipf needs -ids"},
		{[]string{"-url", u + "{id}", "-ids", "1-2000000", "-zipf", "1"}, "at most 1000000 ids"},
		{[]string{"-url", u, "-bogus"}, "not defined: -bogus"},
		{[]string{"-url", u, "extra"}, "unexpected argument"},
		{[]string{"-url", u, "-rate", "-1"}, "-rate must be between"},
		{[]string{"-url", u, "-duration", "2h"}, "-duration must be > 0 and <= 1h0m0s"},
		{[]string{"-scenario", "nope", "-target", u}, `-scenario "nope": unknown; one of assets, hello, mixed, read, write`},
		{[]string{"-scenario", "read"}, "-scenario read needs -target"},
		{[]string{"-scenario", "read", "-target", "localhost:8000"}, "-target \"localhost:8000\": want an absolute"},
		{[]string{"-scenario", "read", "-target", u, "-url", u}, "-url and -scenario exclude each other"},
		{[]string{"-target", u}, "-target needs -scenario"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := parseFlags(tt.args, &bytes.Buffer{})
			if err == nil {
				t.Fatalf("want error containing %q, got nil", tt.want)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line containing %q", msg, tt.want)
			}
		})
	}
}

func TestParseFlagsGood(t *testing.T) {
	cfg, jsonOut, err := parseFlags([]string{
		"-url", "http://a:8081/u/{id},http://b:8082/u/{id}", "-url", "http://lb:8000/u/{id}",
		"-n", "50", "-c", "4", "-method", "post", "-body", `{"x":1}`,
		"-H", "Accept: a, b", "-H", "Host: api.local",
		"-ids", "1-100", "-zipf", "1.0", "-json",
	}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	wantURLs := []string{"http://a:8081/u/{id}", "http://b:8082/u/{id}", "http://lb:8000/u/{id}"}
	switch {
	case !slices.Equal(cfg.URLs, wantURLs):
		t.Errorf("URLs = %q", cfg.URLs)
	case cfg.N != 50 || cfg.Concurrency != 4 || cfg.Method != "POST" || !jsonOut:
		t.Errorf("cfg = %+v, json %v", cfg, jsonOut)
	case cfg.Header.Get("Accept") != "a, b" || cfg.Header.Get("Host") != "api.local":
		t.Errorf("headers = %v", cfg.Header)
	case cfg.IDs == nil || cfg.IDs.Lo != 1 || cfg.IDs.Hi != 100 || cfg.Zipf != 1:
		t.Errorf("ids = %v zipf %v", cfg.IDs, cfg.Zipf)
	}
}

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	_, _, err := parseFlags([]string{"-h"}, &out)
	if !errors.Is(err, flag.ErrHelp) || !strings.HasPrefix(out.String(), "usage: loadgen (-scenario NAME") ||
		!strings.Contains(out.String(), "-zipf") {
		t.Errorf("err %v, help:\n%s", err, out.String())
	}
}

func TestParseFlagsScenario(t *testing.T) {
	cfg, _, err := parseFlags([]string{"-scenario", "mixed", "-target", "http://a:8000,http://b:8000", "-rate", "200", "-zipf", "1.1"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case cfg.Scenario == nil || cfg.Scenario.Name != "mixed":
		t.Errorf("scenario = %v", cfg.Scenario)
	case !slices.Equal(cfg.Targets, []string{"http://a:8000", "http://b:8000"}):
		t.Errorf("targets = %q", cfg.Targets)
	case cfg.Rate != 200 || cfg.Zipf != 1.1:
		t.Errorf("rate %d zipf %v", cfg.Rate, cfg.Zipf)
	case cfg.IDs == nil || *cfg.IDs != (loadgen.IDRange{Lo: 1, Hi: 10000}):
		t.Errorf("ids = %v, want the seed users 1-10000 by default", cfg.IDs)
	case cfg.N != loadgen.MaxRequests || cfg.Duration != 10*time.Second:
		t.Errorf("n %d duration %v: want -duration alone to bound the run, 10s", cfg.N, cfg.Duration)
	}
}
