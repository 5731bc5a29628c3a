package main

import (
	"strings"
	"testing"
)

// unitJSON is a `make unit` run: a pass, a skip with its reason, a subtest
// and no failure.
const unitJSON = `{"Action":"run","Package":"p/a","Test":"TestOK"}
{"Action":"pass","Package":"p/a","Test":"TestOK"}
{"Action":"output","Package":"p/a","Test":"TestLocal","Output":"    x_test.go:9: no chromium here\n"}
{"Action":"output","Package":"p/a","Test":"TestLocal","Output":"--- SKIP: TestLocal (0.00s)\n"}
{"Action":"skip","Package":"p/a","Test":"TestLocal"}
{"Action":"pass","Package":"p/b","Test":"TestTable/one"}
{"Action":"pass","Package":"p/b","Test":"TestTable"}
{"Action":"pass","Package":"p/a"}
{"Action":"pass","Package":"p/b"}
`

func load_(t *testing.T, s string) stream {
	t.Helper()
	c := newCollector(nil)
	if err := read(strings.NewReader(s), c); err != nil {
		t.Fatal(err)
	}
	return c.stream
}

func TestReportUnitAlone(t *testing.T) {
	var out strings.Builder
	if !report(&out, []phase{{"unit", load_(t, unitJSON)}}, 0) {
		t.Fatal("report failed a run without failures")
	}
	for _, want := range []string{
		"unit: 3 passed, 0 failed, 1 skipped\n",
		"skipped:\n  p/a TestLocal: x_test.go:9: no chromium here\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.HasSuffix(out.String(), "total: 3 passed, 0 failed, 1 skipped\n") {
		t.Errorf("the plain closing line is not last:\n%s", out.String())
	}
}

func TestReportAddsThePhasesAndListsFailures(t *testing.T) {
	containers := `{"Action":"pass","Package":"p/a","Test":"TestDB"}
{"Action":"output","Package":"p/a","Test":"TestDB2","Output":"    db_test.go:3: boom\n"}
{"Action":"fail","Package":"p/a","Test":"TestDB2"}
{"Action":"fail","Package":"p/a"}
`
	var out strings.Builder
	ok := report(&out, []phase{{"unit", load_(t, unitJSON)}, {"containers", load_(t, containers)}}, 90e9)
	if ok {
		t.Fatal("report passed a run with a failure")
	}
	for _, want := range []string{
		"unit: 3 passed, 0 failed, 1 skipped\n",
		"containers: 1 passed, 1 failed, 0 skipped\n",
		"FAILED:\n  p/a TestDB2\n",
		"duration: 1m30s\n",
		"total: 4 passed, 1 failed, 1 skipped\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBuildFailureIsAFailure(t *testing.T) {
	s := load_(t, `{"ImportPath":"p/c [p/c.test]","Action":"build-output","Output":"c.go:1: syntax error\n"}
{"ImportPath":"p/c [p/c.test]","Action":"build-fail"}
{"Action":"output","Package":"p/c","Output":"FAIL\tp/c [build failed]\n"}
{"Action":"fail","Package":"p/c","FailedBuild":"p/c [p/c.test]"}
`)
	if n := s.counts(); n.failed != 1 {
		t.Fatalf("failed = %d, want 1 for a package that did not build", n.failed)
	}
}
