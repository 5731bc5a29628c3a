package bench

import (
	"flag"
	"fmt"
	"io"
	"time"

	"scalelab/loadtest/internal/loadgen"
)

// Options are the flags of an interleaved comparison: the load, and how
// long and how often each target is measured.
type Options struct {
	Concurrency int
	Duration    time.Duration
	Rounds      int
	Warmup      time.Duration
}

// ParseFlags parses args as command name's flags. per says what one
// measurement is of, in the help: "per target", "per target and object".
func ParseFlags(name, per string, args []string, stderr io.Writer) (Options, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	fs.IntVar(&o.Concurrency, "c", 32, "concurrent keep-alive connections of the load generator")
	fs.DurationVar(&o.Duration, "d", 3*time.Second, "length of one measurement")
	fs.IntVar(&o.Rounds, "rounds", 3, "measurements "+per+", interleaved")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "unmeasured load "+per+" before the first round")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.Concurrency < 1 || o.Concurrency > loadgen.MaxConcurrency:
		return o, fmt.Errorf("-c must be between 1 and %d", loadgen.MaxConcurrency)
	case o.Duration < 100*time.Millisecond || o.Duration > time.Minute:
		return o, fmt.Errorf("-d must be between 100ms and 1m")
	case o.Rounds < 1 || o.Rounds > 20:
		return o, fmt.Errorf("-rounds must be between 1 and 20")
	case o.Warmup < 0 || o.Warmup > time.Minute:
		return o, fmt.Errorf("-warmup must be between 0 and 1m")
	}
	return o, nil
}
