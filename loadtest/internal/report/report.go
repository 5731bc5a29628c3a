// Package report writes an experiment's report: report.md (claim, setup,
// numbers, charts, verdict), its PNG charts beside it and results.json (the
// headline numbers and every load run's raw JSON), so a reader of the
// repository sees the result and a test can check it holds what it claims.
package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"scalelab/loadtest/internal/loadgen"
)

// Verdicts.
const (
	Held    = "held"
	Partly  = "held in part"
	NotHeld = "did not hold"
)

// Report is built up by an experiment, then written by Write.
type Report struct {
	Name, Title, Claim string
	Setup              []string
	Verdict            string // Held, Partly or NotHeld
	VerdictText        string
	Headline           string // key of the number the index shows (default: the first)

	dir     string
	body    strings.Builder
	numbers []Number
	charts  []string
	runsMu  sync.Mutex // load runs may go on side by side
	runs    map[string]*loadgen.Report
}

// Number is a headline number, listed first in the report and checked by
// the test of the experiments.
type Number struct {
	Key   string  `json:"key"`
	Label string  `json:"label"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

// New starts a report whose files go to dir.
func New(dir, name, title, claim string) (*Report, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// Charts of an earlier run must not outlive it.
	old, _ := filepath.Glob(filepath.Join(dir, "*.png"))
	for _, f := range old {
		os.Remove(f)
	}
	return &Report{Name: name, Title: title, Claim: claim, dir: dir, runs: map[string]*loadgen.Report{}}, nil
}

// Dir is where the report's files go.
func (r *Report) Dir() string { return r.dir }

// Section starts a section of the body.
func (r *Report) Section(title string) { fmt.Fprintf(&r.body, "\n## %s\n\n", title) }

// Para adds a paragraph.
func (r *Report) Para(format string, args ...any) {
	fmt.Fprintf(&r.body, format+"\n\n", args...)
}

// Table adds a table.
func (r *Report) Table(header []string, rows [][]string) {
	fmt.Fprintf(&r.body, "| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat("---|", len(header)))
	for _, row := range rows {
		fmt.Fprintf(&r.body, "| %s |\n", strings.Join(row, " | "))
	}
	r.body.WriteString("\n")
}

// Number records a headline number.
func (r *Report) Number(key, label string, value float64, unit string) {
	r.numbers = append(r.numbers, Number{key, label, value, unit})
}

// Numbers returns the headline numbers recorded so far.
func (r *Report) Numbers() []Number { return slices.Clone(r.numbers) }

// Chart saves a chart (anything with Save(path)) as file in the report's
// folder and shows it in the body.
func (r *Report) Chart(file, caption string, c interface{ Save(string) error }) error {
	if err := c.Save(filepath.Join(r.dir, file)); err != nil {
		return fmt.Errorf("chart %s: %w", file, err)
	}
	r.charts = append(r.charts, file)
	fmt.Fprintf(&r.body, "![%s](%s)\n\n*%s*\n\n", caption, file, caption)
	return nil
}

// Run keeps a load run's raw report for results.json.
func (r *Report) Run(label string, rep *loadgen.Report) {
	r.runsMu.Lock()
	defer r.runsMu.Unlock()
	r.runs[label] = rep
}

// Meta is where and when the report was made.
type Meta struct {
	Commit, Machine, Date, Mode, Note string
	// LoadStart and LoadEnd are the 1-minute load averages when the
	// experiment started and ended (-1: unknown).
	LoadStart float64 `json:"load_start"`
	LoadEnd   float64 `json:"load_end"`
}

// Results is results.json.
type Results struct {
	Name    string                     `json:"name"`
	Title   string                     `json:"title"`
	Claim   string                     `json:"claim"`
	Verdict string                     `json:"verdict"`
	Text    string                     `json:"verdict_text"`
	Meta    Meta                       `json:"meta"`
	Head    *Number                    `json:"headline,omitempty"`
	Numbers []Number                   `json:"numbers"`
	Charts  []string                   `json:"charts"`
	Runs    map[string]*loadgen.Report `json:"runs"`
}

// Write writes report.md and results.json.
func (r *Report) Write(m Meta, took time.Duration) error {
	if r.Verdict == "" {
		return fmt.Errorf("report %s has no verdict", r.Name)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", r.Title)
	fmt.Fprintf(&b, "**Claim.** %s\n\n", r.Claim)
	fmt.Fprintf(&b, "**Verdict on this machine: %s.** %s\n\n", r.Verdict, r.VerdictText)
	fmt.Fprintf(&b, "Commit `%s` on %s, %s, %s mode, %s.", m.Commit, m.Machine, m.Date, m.Mode, took.Round(time.Second))
	if m.LoadStart >= 0 && m.LoadEnd >= 0 {
		fmt.Fprintf(&b, " Load average (1 min) %.1f at the start, %.1f at the end.", m.LoadStart, m.LoadEnd)
	}
	if m.Note != "" {
		fmt.Fprintf(&b, " %s", m.Note)
	}
	fmt.Fprintf(&b, " Run it again: `make experiment NAME=%s`.\n\n", r.Name)
	b.WriteString("## Numbers\n\n| | value |\n|---|---|\n")
	for _, n := range r.numbers {
		fmt.Fprintf(&b, "| %s | %s %s |\n", n.Label, FormatValue(n.Value), n.Unit)
	}
	b.WriteString("\n## Setup\n\n")
	for _, s := range r.Setup {
		fmt.Fprintf(&b, "- %s\n", s)
	}
	b.WriteString(r.body.String())
	if err := os.WriteFile(filepath.Join(r.dir, "report.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	res := Results{Name: r.Name, Title: r.Title, Claim: r.Claim, Verdict: r.Verdict, Text: r.VerdictText, Meta: m,
		Numbers: r.numbers, Charts: r.charts, Runs: r.runs}
	for i, n := range r.numbers {
		if n.Key == r.Headline || (res.Head == nil && i == 0) {
			res.Head = &r.numbers[i]
		}
	}
	js, err := json.MarshalIndent(res, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(r.dir, "results.json"), js, 0o644)
}

// FormatValue prints a number with the precision its size needs.
func FormatValue(v float64) string {
	switch a := max(v, -v); {
	case a == 0 || a >= 100 || v == float64(int64(v)):
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 0.1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}
