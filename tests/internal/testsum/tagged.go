package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// taggedTests returns, per package matched by patterns, the top-level tests
// that are compiled only with the build tag: the test files `go list` names
// with -tags tag and not without it, read for their Test functions. The
// packages that have none are left out. `make test` runs exactly these after
// `make unit`, which builds without the tag, so nothing runs twice and
// nothing tagged is forgotten.
func taggedTests(dir, tag string, patterns []string) (map[string][]string, error) {
	with, err := testFiles(dir, []string{"-tags", tag}, patterns)
	if err != nil {
		return nil, err
	}
	without, err := testFiles(dir, nil, patterns)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for pkg, files := range with {
		plain := map[string]bool{}
		for _, f := range without[pkg] {
			plain[f] = true
		}
		var names []string
		for _, f := range files {
			if plain[f] {
				continue
			}
			tests, err := testsIn(f)
			if err != nil {
				return nil, err
			}
			names = append(names, tests...)
		}
		if len(names) > 0 {
			sort.Strings(names)
			out[pkg] = names
		}
	}
	return out, nil
}

// testFiles runs go list in dir and returns each package's test files
// (in-package and external), as absolute paths.
func testFiles(dir string, flags, patterns []string) (map[string][]string, error) {
	const format = `{{.ImportPath}}{{"\t"}}{{.Dir}}{{range .TestGoFiles}}{{"\t"}}{{.}}{{end}}{{range .XTestGoFiles}}{{"\t"}}{{.}}{{end}}`
	args := append(append([]string{"list", "-f", format}, flags...), patterns...)
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	out := map[string][]string{}
	for line := range strings.Lines(string(b)) {
		f := strings.Split(strings.TrimRight(line, "\n"), "\t")
		if len(f) < 2 {
			continue
		}
		for _, name := range f[2:] {
			out[f[0]] = append(out[f[0]], filepath.Join(f[1], name))
		}
	}
	return out, nil
}

// testsIn returns the names of the test functions of a Go file, as go test
// finds them: func TestXxx(t *testing.T), Xxx not starting in lower case.
func testsIn(file string) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Recv != nil || !isTestName(fn.Name.Name) || !takesTestingT(fn.Type) {
			continue
		}
		names = append(names, fn.Name.Name)
	}
	return names, nil
}

func isTestName(name string) bool {
	rest, ok := strings.CutPrefix(name, "Test")
	if !ok {
		return false
	}
	if rest == "" {
		return true
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return !unicode.IsLower(r)
}

// takesTestingT: exactly one parameter, *testing.T (TestMain takes
// *testing.M and is no test).
func takesTestingT(ft *ast.FuncType) bool {
	if ft.Params == nil || len(ft.Params.List) != 1 || len(ft.Params.List[0].Names) > 1 {
		return false
	}
	star, ok := ft.Params.List[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && pkg.Name == "testing" && sel.Sel.Name == "T"
}
