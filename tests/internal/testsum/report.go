package main

import (
	"fmt"
	"io"
	"maps"
	"sort"
	"strings"
	"time"
)

// phase is one named `go test -json` run of `make test` (unit, containers).
type phase struct {
	name string
	stream
}

// report prints the summary of the phases and returns whether all passed.
// Tests a phase deferred to `make test` count as skipped unless a
// later phase ran them; one deferred and never run is a failure, so that
// `make test` cannot pass without running every container test. The last
// line is the plain "N passed, N failed, N skipped".
func report(w io.Writer, phases []phase, took time.Duration) bool {
	// ranAfter[i]: the top-level tests that ran in a phase after phase i.
	ranAfter := make([]map[string]bool, len(phases))
	ran := map[string]bool{}
	for i := len(phases) - 1; i >= 0; i-- {
		ranAfter[i] = maps.Clone(ran)
		for _, r := range phases[i].results {
			if !r.deferred() {
				top, _, _ := strings.Cut(r.test, "/")
				ran[r.pkg+" "+top] = true
			}
		}
	}
	var total counts
	var skipped, failed []string
	fmt.Fprintln(w, "\n== test summary")
	for i, p := range phases {
		n := p.counts()
		deferred := p.deferredByPackage()
		line := fmt.Sprintf("%s: %d passed, %d failed, %d skipped", p.name, n.passed, n.failed, n.skipped)
		total.passed += n.passed
		total.failed += n.failed
		total.skipped += n.skipped
		later := i < len(phases)-1
		if nd := countAll(deferred); nd > 0 {
			line += fmt.Sprintf(", %d deferred to make test", nd)
			if later {
				line += " (run below)"
			}
		}
		fmt.Fprintln(w, line)
		for pkg, tests := range deferred {
			var missing []string
			for _, t := range tests {
				if !ranAfter[i][pkg+" "+t] {
					missing = append(missing, t)
				}
			}
			switch {
			case !later:
				total.skipped += len(tests)
				skipped = append(skipped, fmt.Sprintf("%s: %d deferred (make test runs them): %s", pkg, len(tests), strings.Join(tests, " ")))
			case len(missing) > 0:
				total.failed += len(missing)
				failed = append(failed, fmt.Sprintf("%s: deferred to make test but never run: %s", pkg, strings.Join(missing, " ")))
			}
		}
		for _, r := range p.results {
			switch {
			case r.action == "fail":
				failed = append(failed, r.key())
			case r.action == "skip" && !r.deferred():
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

func countAll(m map[string][]string) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}
