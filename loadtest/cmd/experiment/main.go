// Command experiment runs the lab's experiments against the compose stack
// (the one `make up` starts: COMPOSE_PROJECT_NAME and the *_PORT variables
// say which) and writes a report per experiment under -out, plus an index.
//
//	experiment -name cache            # one experiment, full length
//	experiment -name all -short       # every experiment, each under a minute of load (CI)
//
// The stack is brought up first when it is down (and taken down again
// afterwards); each experiment puts it back as the compose file declares it
// when it ends, also when it fails.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"scalelab/loadtest/internal/experiments"
	"scalelab/loadtest/internal/report"
	"scalelab/loadtest/internal/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "experiment: %v\n", err)
			os.Exit(1)
		}
	}
}

type options struct {
	names []*experiments.Experiment
	all   bool
	short bool
	index bool
	out   string
	note  string
}

func parse(args []string, getenv func(string) string) (options, error) {
	var o options
	fs := flag.NewFlagSet("experiment", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	name := fs.String("name", getenv("NAME"), "experiment to run, or all")
	fs.BoolVar(&o.short, "short", getenv("SHORT") == "1", "short mode (CI): each experiment under a minute of load")
	fs.StringVar(&o.out, "out", "loadtest/reports", "folder of the reports (NAME/report.md and README.md)")
	fs.StringVar(&o.note, "note", getenv("EXPERIMENT_NOTE"), "a sentence added to each report (e.g. what else ran on the machine)")
	fs.BoolVar(&o.index, "index", false, "only write the index (README.md) of the reports under -out")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.index {
		return o, nil
	}
	switch *name {
	case "":
		var names []string
		for _, x := range experiments.All {
			names = append(names, x.Name)
		}
		return o, fmt.Errorf("NAME is required: one of %v, or all", names)
	case "all":
		o.names, o.all = experiments.All, true
	default:
		x, err := experiments.Lookup(*name)
		if err != nil {
			return o, err
		}
		o.names = []*experiments.Experiment{x}
	}
	return o, nil
}

func run(ctx context.Context, args []string, env []string, out io.Writer) error {
	getenv := func(k string) string {
		for i := len(env) - 1; i >= 0; i-- {
			if v, ok := strings.CutPrefix(env[i], k+"="); ok {
				return v
			}
		}
		return ""
	}
	o, err := parse(args, getenv)
	if err != nil {
		return err
	}
	if o.index {
		return writeIndex(o.out)
	}
	st, err := stack.New(".", env)
	if err != nil {
		return err
	}
	st.Log = func(f string, a ...any) { fmt.Fprintf(out, "  "+f+"\n", a...) }
	if !filepath.IsAbs(o.out) {
		o.out = filepath.Join(st.Root, o.out)
	}
	if !st.Running(ctx) {
		fmt.Fprintf(out, "stack %s is down: bringing it up\n", st.Project)
		if err := st.Restore(ctx); err != nil {
			return err
		}
		defer func() {
			fmt.Fprintf(out, "taking stack %s down again\n", st.Project)
			st.Compose(context.WithoutCancel(ctx), nil, "down", "--remove-orphans")
		}()
	} else if err := st.WaitHealthy(ctx); err != nil {
		return err
	}
	mode := "full"
	if o.short {
		mode = "short"
	}
	xenv := &experiments.Env{Stack: st, Short: o.short, Out: out}
	var failed []string
	for _, x := range o.names {
		fmt.Fprintf(out, "== %s (%s)\n", x.Name, mode)
		start := time.Now()
		if err := runOne(ctx, xenv, x, o, mode); err != nil {
			fmt.Fprintf(out, "== %s FAILED: %v\n", x.Name, err)
			failed = append(failed, x.Name)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		fmt.Fprintf(out, "== %s done in %v: %s\n", x.Name, time.Since(start).Round(time.Second), filepath.Join(o.out, x.Name, "report.md"))
	}
	if o.all {
		if err := writeIndex(o.out); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("failed: %v", failed)
	}
	return nil
}

func runOne(ctx context.Context, env *experiments.Env, x *experiments.Experiment, o options, mode string) error {
	r, err := report.New(filepath.Join(o.out, x.Name), x.Name, x.Title, x.Claim)
	if err != nil {
		return err
	}
	start, load := time.Now(), report.LoadAvg()
	// Whatever happens, the stack goes back to the declared state; a
	// failure first leaves the logs that say why, before Restore replaces
	// containers.
	defer func() {
		if err := env.Stack.Restore(context.WithoutCancel(ctx)); err != nil {
			fmt.Fprintf(env.Out, "  restoring the stack after %s: %v\n", x.Name, err)
		}
	}()
	if err := x.Run(ctx, env, r); err != nil {
		env.Stack.Tail(context.WithoutCancel(ctx), 30)
		return err
	}
	m := report.NewMeta(env.Stack.Root, mode, o.note)
	m.LoadStart, m.LoadEnd = load, report.LoadAvg()
	return r.Write(m, time.Since(start))
}
