package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Reads is what one service's code reads from its environment, found in
// the source of every package of the project its binary is built from, so
// that it cannot drift from a list kept by hand.
type Reads struct {
	Vars     map[string]bool   // every variable read
	Required map[string]bool   // read with Env.Required: the service exits without it
	Defaults map[string]string // literal defaults of string and address variables
}

// envGetters are the methods of platform.Env that read a variable named by
// their first argument.
var envGetters = map[string]bool{
	"String": true, "Required": true, "Int": true, "Duration": true, "Bool": true,
	"Bytes": true, "Addr": true, "URL": true, "URLList": true, "LogLevel": true,
}

var varName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// libraryVars are the libraries that read variables of their own, and the
// names they read, found in their source as map keys rather than calls:
// pgx reads libpq's PG* variables (the api takes PGPASSWORD that way).
var libraryVars = map[string]*regexp.Regexp{
	"github.com/jackc/pgx/v5/pgconn": regexp.MustCompile(`^PG[A-Z]+$`),
}

// ServiceReads returns what the binary built from pkg (an import path such
// as scalelab/services/api/cmd/api) reads: its own package and every
// package of the project it imports, as `go list -deps` names them.
func ServiceReads(root, pkg string) (Reads, error) {
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Dir,GoFiles", pkg)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return Reads{}, fmt.Errorf("go list %s: %w", pkg, err)
	}
	r := Reads{Vars: map[string]bool{}, Required: map[string]bool{}, Defaults: map[string]string{}}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p struct {
			ImportPath, Dir string
			GoFiles         []string
		}
		if err := dec.Decode(&p); err != nil {
			return Reads{}, err
		}
		if lib, ok := libraryVars[p.ImportPath]; ok {
			if err := r.scanLiterals(p.Dir, p.GoFiles, lib); err != nil {
				return Reads{}, err
			}
		}
		if !strings.HasPrefix(p.ImportPath, "scalelab/") {
			continue
		}
		for _, f := range p.GoFiles {
			if err := r.scan(filepath.Join(p.Dir, f)); err != nil {
				return Reads{}, err
			}
		}
	}
	return r, nil
}

// scan records env.X("NAME", ...), getenv("NAME") and os.Getenv("NAME")
// calls of one file.
func (r *Reads) scan(path string) error {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		return err
	}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		name, ok := stringLit(call.Args[0])
		if !ok || !varName.MatchString(name) {
			return true
		}
		var method string
		switch fn := call.Fun.(type) {
		case *ast.SelectorExpr:
			method = fn.Sel.Name
		case *ast.Ident:
			method = fn.Name
		}
		switch {
		case envGetters[method]:
			r.Vars[name] = true
			if method == "Required" {
				r.Required[name] = true
			}
			if def, ok := stringLitArg(call, 1); ok && (method == "String" || method == "Addr") {
				r.Defaults[name] = def
			}
		case method == "getenv" || method == "Getenv" || method == "LookupEnv":
			r.Vars[name] = true
		}
		return true
	})
	return nil
}

// scanLiterals records every string literal of a library's files that
// matches its pattern of variable names.
func (r *Reads) scanLiterals(dir string, files []string, pattern *regexp.Regexp) error {
	for _, name := range files {
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, name), nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if s, ok := stringLit(n); ok && pattern.MatchString(s) {
				r.Vars[s] = true
			}
			return true
		})
	}
	return nil
}

func stringLit(e ast.Node) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

func stringLitArg(call *ast.CallExpr, i int) (string, bool) {
	if len(call.Args) <= i {
		return "", false
	}
	return stringLit(call.Args[i])
}

// AdminPaths returns the paths the admin listener of every service serves,
// from the patterns the platform's admin mux registers ("GET /readyz").
func AdminPaths(root string) (map[string]bool, error) {
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(root, "services/platform/service.go"), nil, 0)
	if err != nil {
		return nil, err
	}
	paths := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) != 2 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
			return true
		}
		if pattern, ok := stringLit(call.Args[0]); ok {
			paths[pattern[strings.Index(pattern, "/"):]] = true
		}
		return true
	})
	return paths, nil
}

// ImageTargets returns the service images deploy/Dockerfile builds (its
// `FROM scratch AS name` stages) with the ports each EXPOSEs.
func ImageTargets(root string) (map[string][]int, error) {
	b, err := os.ReadFile(filepath.Join(root, "deploy/Dockerfile"))
	if err != nil {
		return nil, err
	}
	targets := map[string][]int{}
	var current string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 4 && f[0] == "FROM" && f[1] == "scratch" && strings.EqualFold(f[2], "AS"):
			current = f[3]
			targets[current] = nil
		case len(f) > 1 && f[0] == "EXPOSE" && current != "":
			for _, p := range f[1:] {
				n, err := strconv.Atoi(p)
				if err != nil {
					return nil, fmt.Errorf("Dockerfile: EXPOSE %q", p)
				}
				targets[current] = append(targets[current], n)
			}
		}
	}
	return targets, nil
}

// ScriptVars returns the variables a shell script reads (${NAME...} and
// $NAME): the environment contract of a stand-in image's entrypoint.
func ScriptVars(path string) (map[string]bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	vars := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{?([A-Z][A-Z0-9_]*)`).FindAllSubmatch(b, -1) {
		vars[string(m[1])] = true
	}
	return vars, nil
}
