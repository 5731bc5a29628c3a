// Package bench holds what the benchmark commands (benchapi, benchlb,
// benchedge) share: the main that turns Ctrl-C into a clean stop and an
// exit code, the flags of an interleaved comparison, finding and checking
// the peers they are compared with, one measurement of a target with the
// load generator and the CPU time of its processes, the interleaved rounds,
// their summary, and how numbers are printed. What each command measures,
// and its report, stay in the command.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Command names a benchmark command for its messages.
type Command struct {
	// Name prefixes every message: "benchlb".
	Name string
	// Stopped says what is left after an interrupt: "every process it
	// started is stopped".
	Stopped string
	// TookNote follows "took 1m5s in all" on success: " (cleanup included)".
	TookNote string
}

// Main runs run and exits: 0 on success, after the time it took; 130 when
// interrupted, once run has cleaned up; 1 with the error otherwise.
// Ctrl-C or SIGTERM cancels run's context, and its deferred cleanups stop
// what it started; a second Ctrl-C kills the command at once (the default
// handler is back by then).
func (c Command) Main(run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); stop() }()
	start := time.Now()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(c.exit(err, ctx.Err() != nil, time.Since(start), os.Stdout, os.Stderr))
}

// exit prints the end of a run and returns the exit code.
func (c Command) exit(err error, interrupted bool, took time.Duration, stdout, stderr io.Writer) int {
	switch {
	case err != nil && interrupted:
		fmt.Fprintf(stderr, "%s: interrupted; %s\n", c.Name, c.Stopped)
		return 130
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n", c.Name, err)
		return 1
	}
	fmt.Fprintf(stdout, "\n%s took %s in all%s\n", c.Name, took.Round(time.Second), c.TookNote)
	return 0
}

// Progress returns a printf that writes one line of progress to w, after
// the command's name.
func (c Command) Progress(w io.Writer) func(format string, args ...any) {
	return func(format string, args ...any) { fmt.Fprintf(w, c.Name+": "+format+"\n", args...) }
}
