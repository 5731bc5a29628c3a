package dashboards

import (
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// Rule is one recording or alerting rule of deploy/prometheus/rules.
type Rule struct {
	Record string `yaml:"record"`
	Alert  string `yaml:"alert"`
	Expr   string `yaml:"expr"`
}

// Rules reads every rule file in dir.
func Rules(dir string) ([]Rule, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yml"))
	if err != nil {
		return nil, err
	}
	var rules []Rule
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var doc struct {
			Groups []struct {
				Rules []Rule `yaml:"rules"`
			} `yaml:"groups"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return nil, err
		}
		for _, g := range doc.Groups {
			rules = append(rules, g.Rules...)
		}
	}
	return rules, nil
}

// Exprs is every PromQL expression of every dashboard, each with where it
// comes from ("lb.json: Requests per backend").
func Exprs(ds []Dashboard) map[string][]string {
	out := map[string][]string{}
	for _, d := range ds {
		for _, r := range d.Rows {
			for _, p := range r.Panels {
				for _, q := range p.Queries {
					out[q.Expr] = append(out[q.Expr], d.File+": "+p.Title)
				}
			}
		}
	}
	return out
}
