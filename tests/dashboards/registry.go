package dashboards

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// RegisteredMetrics reads the Go sources under dir (the services) and
// returns a pattern for every metric they define: the Namespace, Subsystem
// and Name of each prometheus.*Opts literal, the name of each
// prometheus.NewDesc, and any string literal that is a whole scalelab_ name
// (for names handed to a helper that builds the metric). A part built at run time (the platform's
// "scalelab_" + service) becomes a wildcard for one name segment.
//
// The sources, not a live /metrics page, because a labelled metric shows on
// /metrics only once a label set has been used: a dashboard naming an
// event that has not happened yet (an ejection, a stale answer) must still
// be checked.
func RegisteredMetrics(dir string) ([]*regexp.Regexp, error) {
	var out []*regexp.Regexp
	fset := token.NewFileSet()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		strs := stringBindings(f)
		ast.Inspect(f, func(n ast.Node) bool {
			var parts []string
			switch n := n.(type) {
			case *ast.BasicLit:
				// A whole name handed to a helper (g("scalelab_x", help)).
				if v, err := strconv.Unquote(n.Value); err == nil && wholeName.MatchString(v) {
					out = append(out, regexp.MustCompile("^"+regexp.QuoteMeta(v)+"$"))
				}
				return true
			case *ast.CompositeLit:
				sel, ok := n.Type.(*ast.SelectorExpr)
				if !ok || !strings.HasSuffix(sel.Sel.Name, "Opts") {
					return true
				}
				fields := map[string]string{}
				for _, e := range n.Elts {
					if kv, ok := e.(*ast.KeyValueExpr); ok {
						if k, ok := kv.Key.(*ast.Ident); ok {
							fields[k.Name] = resolve(kv.Value, strs)
						}
					}
				}
				parts = []string{fields["Namespace"], fields["Subsystem"], fields["Name"]}
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "NewDesc" || len(n.Args) == 0 {
					return true
				}
				parts = []string{resolve(n.Args[0], strs)}
			default:
				return true
			}
			var name []string
			for _, p := range parts {
				if p != "" {
					name = append(name, p)
				}
			}
			full := strings.Join(name, "_")
			if strings.HasPrefix(full, "scalelab_") {
				pat := strings.ReplaceAll(regexp.QuoteMeta(full), `\*`, `[a-z0-9]+`)
				out = append(out, regexp.MustCompile("^"+pat+"$"))
			}
			return true
		})
		return nil
	})
	return out, err
}

var wholeName = regexp.MustCompile(`^scalelab_[a-z0-9_]+_[a-z0-9_]+$`)

// stringBindings maps each name bound to a string literal in f (const ns =
// "...", ns := "scalelab_" + service) to its value, * for the unknown part.
func stringBindings(f *ast.File) map[string]string {
	m := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.ValueSpec:
			for i, id := range n.Names {
				if i < len(n.Values) {
					m[id.Name] = resolve(n.Values[i], m)
				}
			}
		case *ast.AssignStmt:
			for i, l := range n.Lhs {
				if id, ok := l.(*ast.Ident); ok && i < len(n.Rhs) {
					if v := resolve(n.Rhs[i], m); strings.Contains(v, "scalelab") {
						m[id.Name] = v
					}
				}
			}
		}
		return true
	})
	return m
}

func resolve(e ast.Expr, strs map[string]string) string {
	switch e := e.(type) {
	case *ast.BasicLit:
		if s, err := strconv.Unquote(e.Value); err == nil {
			return s
		}
	case *ast.Ident:
		if s, ok := strs[e.Name]; ok {
			return s
		}
	case *ast.BinaryExpr:
		if e.Op == token.ADD {
			return resolve(e.X, strs) + resolve(e.Y, strs)
		}
	}
	return "*"
}
