package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"scalelab/loadtest/internal/experiments"
	"scalelab/loadtest/internal/report"
)

// writeIndex writes README.md in the reports folder: one line per
// experiment with its headline number and verdict, read back from each
// results.json (so an experiment that failed this time shows its last
// report, or that it has none).
func writeIndex(dir string) error {
	var b strings.Builder
	b.WriteString("# Experiments: the guide's claims measured on this stack\n\n")
	b.WriteString("Each report is written by `make experiment NAME=...` (all of them: `make experiments`); see [docs/experiments.md](../../docs/experiments.md).\n\n")
	b.WriteString("| experiment | claim | headline | verdict | made |\n|---|---|---|---|---|\n")
	for _, x := range experiments.All {
		js, err := os.ReadFile(filepath.Join(dir, x.Name, "results.json"))
		if err != nil {
			fmt.Fprintf(&b, "| %s | %s | no report yet | - | - |\n", x.Name, x.Title)
			continue
		}
		var res report.Results
		if err := json.Unmarshal(js, &res); err != nil {
			return fmt.Errorf("%s/results.json: %v", x.Name, err)
		}
		headline := "-"
		if n := res.Head; n != nil {
			headline = fmt.Sprintf("%s: %s %s", n.Label, report.FormatValue(n.Value), n.Unit)
		}
		load := ""
		if m := res.Meta; m.LoadStart > 0 || m.LoadEnd > 0 {
			load = fmt.Sprintf(", load average %.0f-%.0f", min(m.LoadStart, m.LoadEnd), max(m.LoadStart, m.LoadEnd))
		}
		fmt.Fprintf(&b, "| [%s](%s/report.md) | %s | %s | **%s** | %s, %s mode%s, commit %s |\n",
			x.Name, x.Name, x.Title, headline, res.Verdict, res.Meta.Date, res.Meta.Mode, load, res.Meta.Commit)
	}
	b.WriteString("\nThe load average is the machine's 1-minute load average at the start and the end of each run, as its report gives it: above the number of cores, other work shared them, and absolute latencies and rates are pessimistic. The verdicts rest on ratios between setups measured in the same run, and each report says where a claim did not hold.\n")
	return os.WriteFile(filepath.Join(dir, "README.md"), []byte(b.String()), 0o644)
}
