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
