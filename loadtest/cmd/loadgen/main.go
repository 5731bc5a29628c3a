// Command loadgen fires HTTP requests at the lab stack and shows what
// happened: status classes, throughput, latency percentiles and which
// edge / cache / shard answered (X-Served-By, X-Cache, X-Shard).
//
// Examples:
//
//	loadgen -url http://localhost:8000/users/{id} -ids 1-10000 -zipf 1.1 -n 20000 -c 32
//	loadgen -url http://localhost:8081/,http://localhost:8082/ -n 500 -json
//
// The run ends after -n requests or -duration, whichever comes first; Ctrl-C
// stops it early and still prints the report (a second Ctrl-C kills it).
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

	"scalelab/loadtest/internal/loadgen"
)

const usageLine = `usage: loadgen -url URL [-url URL ...] [-n 1000] [-c 8] [-duration 30s] [-timeout 5s]
               [-method GET] [-body STRING] [-H "Name: value" ...] [-ids LO-HI [-zipf S]] [-json]`

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

	// Progress note on stderr, so stdout stays clean for -json.
	fmt.Fprintf(os.Stderr, "loadgen: %d x %s, c=%d, stops after %v at the latest\n",
		cfg.N, cfg.Method, cfg.Concurrency, cfg.Duration)
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		os.Exit(2)
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
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	// The flag package would print the whole usage on every mistake; we
	// print one line instead (see main).
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}

	var urls urlList
	var headers headerList
	fs.Var(&urls, "url", "target `URL`, required; repeat or comma-separate to rotate; {id} is replaced (see -ids)")
	fs.IntVar(&cfg.N, "n", cfg.N, fmt.Sprintf("total requests (max %d)", loadgen.MaxRequests))
	fs.IntVar(&cfg.Concurrency, "c", cfg.Concurrency, fmt.Sprintf("concurrent workers (max %d)", loadgen.MaxConcurrency))
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "stop after this long even if -n is not reached")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "per-request timeout, including the body")
	method := fs.String("method", cfg.Method, "HTTP method")
	fs.StringVar(&cfg.Body, "body", "", "request body")
	fs.Var(&headers, "H", "request header `\"Name: value\"`, repeatable")
	ids := fs.String("ids", "", "id range `LO-HI` substituted for {id} in -url, e.g. 1-10000")
	fs.Float64Var(&cfg.Zipf, "zipf", 0, "Zipf exponent `s` for -ids (e.g. 1.0; low ids are hot); 0 = uniform")
	jsonOut := fs.Bool("json", false, "print the report as JSON")

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

	cfg.URLs = urls
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
	}
	return cfg, *jsonOut, cfg.Validate()
}

// urlList is the repeatable -url flag; each value may also hold several
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
