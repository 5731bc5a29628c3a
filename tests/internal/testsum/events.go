package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json); build-output and
// build-fail carry ImportPath instead of Package.
type event struct {
	Action      string
	Package     string
	ImportPath  string
	Test        string
	Elapsed     float64
	Output      string
	FailedBuild string
}

// result is the end of one test: pass, fail or skip, and what it printed.
type result struct {
	pkg, test, action string
	output            []string
}

func (r result) key() string { return r.pkg + " " + r.test }

// reason is the skip message: the last line that is not the --- SKIP line.
func (r result) reason() string {
	for i := len(r.output) - 1; i >= 0; i-- {
		line := strings.TrimSpace(r.output[i])
		if line != "" && !strings.HasPrefix(line, "--- ") && !strings.HasPrefix(line, "=== ") {
			return line
		}
	}
	return ""
}

// stream is what one `go test -json` stream says: the tests that ended, in
// order, and the packages that failed without a failing test (a build
// error, a panic in TestMain, a timeout).
type stream struct {
	results   []result
	pkgFailed []string
	pkgOutput map[string][]string
}

// collector folds events into a stream and, when live is set, prints the
// progress go test itself would: one line per package, and the output of
// what failed.
type collector struct {
	stream
	live    io.Writer
	outputs map[string][]string // by pkg+" "+test, until the test ends
	failed  map[string]bool     // packages with a failing test
}

func newCollector(live io.Writer) *collector {
	return &collector{stream: stream{pkgOutput: map[string][]string{}}, live: live,
		outputs: map[string][]string{}, failed: map[string]bool{}}
}

func (c *collector) add(e event) {
	key := e.Package + " " + e.Test
	switch {
	case e.Action == "build-output":
		c.pkgOutput[e.ImportPath] = append(c.pkgOutput[e.ImportPath], e.Output)
		c.print("%s", e.Output)
	case e.Action == "output" && e.Test != "":
		c.outputs[key] = append(c.outputs[key], e.Output)
	case e.Action == "output":
		c.pkgOutput[e.Package] = append(c.pkgOutput[e.Package], e.Output)
	case e.Test != "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip"):
		r := result{pkg: e.Package, test: e.Test, action: e.Action, output: c.outputs[key]}
		delete(c.outputs, key)
		c.results = append(c.results, r)
		if e.Action == "fail" {
			c.failed[e.Package] = true
			c.print("%s", strings.Join(r.output, ""))
		}
	case e.Test == "" && e.Action == "fail":
		c.print("FAIL\t%s\t%.1fs\n", e.Package, e.Elapsed)
		if !c.failed[e.Package] {
			c.pkgFailed = append(c.pkgFailed, e.Package)
			c.print("%s", strings.Join(c.pkgOutput[e.Package], ""))
		}
	case e.Test == "" && e.Action == "pass":
		c.print("ok  \t%s\t%.1fs\n", e.Package, e.Elapsed)
	}
}

func (c *collector) print(format string, args ...any) {
	if c.live != nil {
		fmt.Fprintf(c.live, format, args...)
	}
}

// read folds a whole stream; lines that are not JSON (go vet's, a crash's)
// are kept as output of no package and printed live.
func read(in io.Reader, c *collector) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			c.print("%s\n", sc.Text())
			continue
		}
		c.add(e)
	}
	return sc.Err()
}

// counts tallies results by action.
type counts struct{ passed, failed, skipped int }

func (r stream) counts() counts {
	var n counts
	for _, x := range r.results {
		switch {
		case x.action == "pass":
			n.passed++
		case x.action == "fail":
			n.failed++
		default:
			n.skipped++
		}
	}
	n.failed += len(r.pkgFailed)
	return n
}
