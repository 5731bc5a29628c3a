package main

import (
	"fmt"
	"io"
	"sort"
	"time"
)

// phase is one named `go test -json` run of `make test` (unit, containers).
type phase struct {
	name string
	stream
}

// report prints the summary of the phases and returns whether all passed:
// a line per phase, every skipped test with its reason, every failure, the
// duration, and last the plain "total: N passed, N failed, N skipped".
func report(w io.Writer, phases []phase, took time.Duration) bool {
	var total counts
	var skipped, failed []string
	fmt.Fprintln(w, "\n== test summary")
	for _, p := range phases {
		n := p.counts()
		fmt.Fprintf(w, "%s: %d passed, %d failed, %d skipped\n", p.name, n.passed, n.failed, n.skipped)
		total.passed += n.passed
		total.failed += n.failed
		total.skipped += n.skipped
		for _, r := range p.results {
			switch r.action {
			case "fail":
				failed = append(failed, r.key())
			case "skip":
				skipped = append(skipped, r.key()+": "+r.reason())
			}
		}
		for _, pkg := range p.pkgFailed {
			failed = append(failed, pkg+" (the package failed: build, TestMain or timeout)")
		}
	}
	list(w, "skipped", skipped)
	list(w, "FAILED", failed)
	if took > 0 {
		fmt.Fprintf(w, "duration: %s\n", took)
	}
	fmt.Fprintf(w, "total: %d passed, %d failed, %d skipped\n", total.passed, total.failed, total.skipped)
	return total.failed == 0
}

func list(w io.Writer, title string, lines []string) {
	if len(lines) == 0 {
		return
	}
	sort.Strings(lines)
	fmt.Fprintf(w, "%s:\n", title)
	for _, l := range lines {
		fmt.Fprintf(w, "  %s\n", l)
	}
}
