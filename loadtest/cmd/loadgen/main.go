// Command loadgen drives load at the lab stack and shows what happened:
// status classes, throughput, latency percentiles from an HDR histogram, and
// which replica, cache or shard answered (X-Served-By, X-Cache, X-Shard).
//
// Examples:
//
//	loadgen -scenario read -target http://localhost:8000 -zipf 1.1 -c 32 -duration 20s
//	loadgen -scenario mixed -target http://localhost:8000 -rate 500 -duration 30s -json > run.json
//	loadgen -url http://localhost:8081/logo.png,http://localhost:8082/logo.png -n 500
//
// Closed loop (-c workers) by default; -rate R sends R requests a second
// whatever the latency (open loop). The run ends after -n requests or
// -duration, whichever comes first; Ctrl-C stops it early and still prints
// the report (a second Ctrl-C kills it).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"scalelab/loadtest/internal/loadgen"
)

const usageLine = `usage: loadgen (-scenario NAME -target URL ... | -url URL ...) [-c 8] [-rate R] [-duration 10s] [-n N]
               [-ids LO-HI [-zipf S | -seq]] [-timeout 5s] [-method GET] [-body STRING] [-H "Name: value" ...] [-json] [-quiet]`

func main() {
	cfg, jsonOut, err := parseFlags(os.Args[1:], os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v (see loadgen -h)\n", err)
		os.Exit(2)
	}

	// First Ctrl-C: stop sending and print what we have. stop() restores the
	// default handler, so a second Ctrl-C kills the process.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); stop() }()

	// Progress goes to stderr, so stdout stays clean for -json.
	if cfg.Progress != nil {
		cfg.ProgressTTY = term.IsTerminal(int(os.Stderr.Fd()))
	}
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(1)
	}
	if jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
			os.Exit(1)
		}
		return
	}
	rep.WriteText(os.Stdout)
}

// parseFlags turns command-line arguments into a validated Config. Errors are
// single lines naming the flag; -h prints the usage to helpOut and returns
// flag.ErrHelp.
func parseFlags(args []string, helpOut io.Writer) (loadgen.Config, bool, error) {
	cfg := loadgen.DefaultConfig()
	cfg.Duration = defaultDuration
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	// The flag package would print the whole usage on every mistake; we
	// print one line instead (see main).
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}

	var urls, targets urlList
	var headers headerList
	fs.Var(&urls, "url", "whole target `URL`; repeat or comma-separate to rotate; {id} is replaced (see -ids)")
	fs.Var(&targets, "target", "base `URL` for -scenario (e.g. http://localhost:8000); repeat or comma-separate to rotate")
	scenario := fs.String("scenario", "", "request mix: one of "+strings.Join(loadgen.ScenarioNames(), ", "))
	n := fs.Int("n", 0, fmt.Sprintf("stop after this many requests (max %d; 0: -duration alone ends the run)", loadgen.MaxRequests))
	fs.IntVar(&cfg.Concurrency, "c", cfg.Concurrency, fmt.Sprintf("closed loop: workers; open loop: most requests in flight (max %d)", loadgen.MaxConcurrency))
	fs.IntVar(&cfg.Rate, "rate", 0, "open loop: requests per second, whatever the latency (0: closed loop)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, fmt.Sprintf("stop after this long (max %v)", loadgen.MaxDuration))
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "per-request timeout, including the body")
	method := fs.String("method", cfg.Method, "HTTP method (with -url)")
	fs.StringVar(&cfg.Body, "body", "", "request body (with -url); {id} is replaced")
	fs.Var(&headers, "H", "request header `\"Name: value\"`, repeatable")
	ids := fs.String("ids", "", "id range `LO-HI` substituted for {id}, e.g. 1-10000 (scenarios have a default)")
	fs.Float64Var(&cfg.Zipf, "zipf", 0, "Zipf exponent `s` for the ids (e.g. 1.0; low ids are hot); 0 = uniform")
	fs.BoolVar(&cfg.Sequential, "seq", false, "send the ids in order, each once (cold keys: every one a cache miss)")
	jsonOut := fs.Bool("json", false, "print the report as JSON (histogram and per-second series included)")
	quiet := fs.Bool("quiet", false, "no progress line on stderr")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(helpOut, usageLine)
			fmt.Fprintln(helpOut)
			fs.SetOutput(helpOut)
			fs.PrintDefaults()
		}
		return cfg, false, err
	}
	if fs.NArg() > 0 {
		return cfg, false, fmt.Errorf("unexpected argument %q (flags only)", fs.Arg(0))
	}
	if *n != 0 {
		cfg.N = *n
	}
	if *scenario != "" {
		s, err := loadgen.LookupScenario(*scenario)
		if err != nil {
			return cfg, false, err
		}
		cfg.Scenario = s
	}
	cfg.URLs, cfg.Targets = urls, targets
	cfg.Method = strings.ToUpper(*method)
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return cfg, false, fmt.Errorf(`-H %q: want "Name: value"`, h)
		}
		cfg.Header.Add(name, strings.TrimSpace(value))
	}
	if *ids != "" {
		r, err := loadgen.ParseIDRange(*ids)
		if err != nil {
			return cfg, false, err
		}
		cfg.IDs = &r
	} else if cfg.Scenario != nil && cfg.Scenario.DefaultIDs != nil {
		cfg.IDs = cfg.Scenario.DefaultIDs
	}
	if !*quiet {
		cfg.Progress = os.Stderr
	}
	return cfg, *jsonOut, cfg.Validate()
}

const defaultDuration = 10 * time.Second

// urlList is a repeatable flag; each value may also hold several
// comma-separated URLs.
type urlList []string

func (l *urlList) String() string { return strings.Join(*l, ",") }

func (l *urlList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// headerList is the repeatable -H flag. Values are kept whole: header values
// may legitimately contain commas.
type headerList []string

func (l *headerList) String() string { return strings.Join(*l, "; ") }

func (l *headerList) Set(v string) error { *l = append(*l, v); return nil }
