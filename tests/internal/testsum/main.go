// Command testsum reads `go test -json` and says what ran, passed, failed and
// was skipped, for `make unit` and `make test` (see docs/tests.md). It is a
// few screens of code where gotestsum would be another tool to fetch on
// every fresh machine, and it knows this project's one convention: test
// files that need containers are built only with the `containers` tag, and
// `make test` runs exactly their tests after `make unit`.
//
//	go test -json ... | testsum record out/unit.json   live progress; the stream kept
//	testsum tagged containers ./services/api/... ...   "pkg<TAB>-run regexp" per package
//	testsum report [-since UNIX] unit=out/unit.json containers=out/containers.json
package main

import (
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: testsum record FILE | tagged TAG PATTERN... | report [-since UNIX] NAME=FILE...")
	}
	switch args[0] {
	case "record":
		if len(args) != 2 {
			return fmt.Errorf("usage: testsum record FILE")
		}
		return record(args[1], stdin, stdout)
	case "tagged":
		if len(args) < 3 {
			return fmt.Errorf("usage: testsum tagged TAG PATTERN...")
		}
		byPkg, err := taggedTests(".", args[1], args[2:])
		if err != nil {
			return err
		}
		for _, pkg := range slices.Sorted(maps.Keys(byPkg)) {
			fmt.Fprintf(stdout, "%s\t^(%s)$\n", pkg, strings.Join(byPkg[pkg], "|"))
		}
		return nil
	case "report":
		fs := flag.NewFlagSet("report", flag.ContinueOnError)
		since := fs.Int64("since", 0, "unix time the run started, for its duration")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		var phases []phase
		for _, a := range fs.Args() {
			name, file, ok := strings.Cut(a, "=")
			if !ok {
				return fmt.Errorf("report: %q is not NAME=FILE", a)
			}
			r, err := load(file)
			if err != nil {
				return err
			}
			phases = append(phases, phase{name, r})
		}
		var took time.Duration
		if *since > 0 {
			took = time.Since(time.Unix(*since, 0)).Round(time.Second)
		}
		if !report(stdout, phases, took) {
			return fmt.Errorf("tests failed")
		}
		return nil
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// record copies the stream to file while printing its progress; it fails
// when a test or a package failed.
func record(file string, stdin io.Reader, stdout io.Writer) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	c := newCollector(stdout)
	if err := read(io.TeeReader(stdin, f), c); err != nil {
		return err
	}
	if n := c.counts(); n.failed > 0 {
		return fmt.Errorf("%d failed", n.failed)
	}
	return nil
}

func load(file string) (stream, error) {
	f, err := os.Open(file)
	if err != nil {
		return stream{}, err
	}
	defer f.Close()
	c := newCollector(nil)
	err = read(f, c)
	return c.stream, err
}
