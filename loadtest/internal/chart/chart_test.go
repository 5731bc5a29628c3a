package chart

import (
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// distinctColors decodes a PNG and counts its colours: a chart with lines
// has many (anti-aliasing), a blank one has one or two.
func distinctColors(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
		}
	}
	return len(seen)
}

func TestLinesAndBars(t *testing.T) {
	dir := t.TempDir()
	l := &Lines{Title: "latency", XLabel: "s", YLabel: "ms", LogY: true,
		Series: []Series{{"p50", []float64{0, 1, 2}, []float64{1, 2, 1.5}}, {"p99", []float64{0, 1, 2}, []float64{5, 9, 7}}},
		Marks:  []Mark{{1, "kill"}}}
	if err := l.Save(filepath.Join(dir, "l.png")); err != nil {
		t.Fatal(err)
	}
	b := &Bars{Title: "rps", YLabel: "req/s", Categories: []string{"L4", "L7"},
		Groups: []Group{{"rps", []float64{100, 80}}}}
	if err := b.Save(filepath.Join(dir, "b.png")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"l.png", "b.png"} {
		if n := distinctColors(t, filepath.Join(dir, f)); n < 10 {
			t.Errorf("%s has %d colours: looks blank", f, n)
		}
	}
}

func TestEmptyIsAnError(t *testing.T) {
	dir := t.TempDir()
	l := &Lines{Title: "nothing", Series: []Series{{"a", nil, nil}}}
	if err := l.Save(filepath.Join(dir, "l.png")); !errors.Is(err, ErrEmpty) {
		t.Errorf("lines: err = %v, want ErrEmpty", err)
	}
	b := &Bars{Title: "zeros", Categories: []string{"a"}, Groups: []Group{{"g", []float64{0}}}}
	if err := b.Save(filepath.Join(dir, "b.png")); !errors.Is(err, ErrEmpty) {
		t.Errorf("bars: err = %v, want ErrEmpty", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "l.png")); err == nil {
		t.Error("an empty chart was written")
	}
}
