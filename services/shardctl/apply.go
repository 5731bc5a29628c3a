package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"scalelab/services/api/reshard"
)

// apply runs (or takes up) a reshard, with a progress bar on stderr.
func apply(ctx context.Context, e *reshard.Engine, n int, router string, dryRun bool, stdout, stderr io.Writer) error {
	bar := newBar(stderr)
	e.Progress = bar.update
	e.Log = lineWriter{bar, stdout}
	if dryRun {
		res, err := e.Apply(ctx, n, router, true)
		if err != nil {
			return err
		}
		if res.Nothing {
			fmt.Fprintf(stdout, "nothing to do: the map is already %s\n", reshard.Describe(res.To))
			return nil
		}
		if res.Resumed != "" {
			fmt.Fprintf(stdout, "dry run: would take up the reshard to %s at phase %s\n", res.To.Describe(), res.Resumed)
			return nil
		}
		p, err := e.Plan(ctx, res.From, res.To)
		if err != nil {
			return err
		}
		p.Write(stdout)
		fmt.Fprintf(stdout, "dry run: would copy %d rows, pause writes for the cut-over, publish %s, then remove the old copies; nothing was changed\n",
			p.Moved, res.To.Describe())
		return nil
	}
	res, err := e.Apply(ctx, n, router, false)
	bar.done()
	if err != nil {
		return err
	}
	if res.Nothing {
		fmt.Fprintf(stdout, "nothing to do: the map is already %s\n", reshard.Describe(res.To))
		return nil
	}
	if res.Resumed != "" {
		fmt.Fprintf(stdout, "took up the reshard at phase %s\n", res.Resumed)
	}
	fmt.Fprintf(stdout, "resharded: %s → %s in %v; %d moved rows verified with traffic flowing; writes paused %v at the cut-over, which checked again the %d rows written since\n",
		res.From.Describe(), res.To.Describe(), res.Took.Round(time.Millisecond), res.Checked, res.Pause.Round(time.Millisecond), res.Rechecked)
	return nil
}

// bar draws progress on a terminal in place, elsewhere a line at most
// every 2 s.
type bar struct {
	w    io.Writer
	tty  bool
	last time.Time
	open bool
}

func newBar(w io.Writer) *bar {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil {
			tty = st.Mode()&os.ModeCharDevice != 0
		}
	}
	return &bar{w: w, tty: tty}
}

func (b *bar) update(p reshard.Progress) {
	if !b.tty && time.Since(b.last) < 2*time.Second {
		return
	}
	b.last = time.Now()
	line := fmt.Sprintf("%-8s %d rows", p.Phase, p.Done)
	if p.Total > 0 {
		f := min(float64(p.Done)/float64(p.Total), 1)
		const width = 30
		filled := int(f * width)
		line = fmt.Sprintf("%-8s [%s%s] %3.0f%% %d/%d rows", p.Phase,
			strings.Repeat("#", filled), strings.Repeat(".", width-filled), f*100, p.Done, p.Total)
	}
	line += fmt.Sprintf("  %.0f rows/s", p.Rate)
	if b.tty {
		fmt.Fprintf(b.w, "\r\033[K%s", line)
		b.open = true
		return
	}
	fmt.Fprintln(b.w, line)
}

// done ends the bar's line.
func (b *bar) done() {
	if b.open {
		fmt.Fprintln(b.w)
		b.open = false
	}
}

// lineWriter writes phase lines below the bar.
type lineWriter struct {
	b *bar
	w io.Writer
}

func (l lineWriter) Write(p []byte) (int, error) {
	l.b.done()
	return l.w.Write(p)
}
