package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"scalelab/services/api/reshard"
	"scalelab/services/api/shardmap"
	"scalelab/services/platform"
)

const usage = `usage: shardctl status
       shardctl plan  --to N [--router modulo|consistent|rendezvous]
       shardctl apply --to N [--router ...] [--dry-run] [--lease 3s]

environment:
  SHARD_MAP_DSN      the catalog that holds the shard map (required)
  SHARD_DSNS         every shard shardctl may use, in order: the map's and idle ones (required)
  SHARDCTL_REPLICAS  api admin addresses whose map version status shows: URLs, or dns://host:port for every address of a name
`

type config struct {
	catalog  string
	known    []string
	replicas []string
}

func loadConfig(getenv func(string) string) (config, error) {
	env := platform.NewEnv(getenv)
	c := config{
		catalog:  env.Required("SHARD_MAP_DSN"),
		known:    platform.SplitList(env.Required("SHARD_DSNS")),
		replicas: platform.SplitList(env.String("SHARDCTL_REPLICAS", "")),
	}
	return c, env.Err()
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		return errors.New(strings.TrimSpace(usage))
	}
	cmd := args[1]
	fs := flag.NewFlagSet("shardctl "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	to := fs.Int("to", 0, "number of shards to reshard to")
	router := fs.String("router", "", "router of the new map (default: the current one's)")
	dryRun := fs.Bool("dry-run", false, "check and show what apply would do; change nothing")
	lease := fs.Duration("lease", reshard.DefaultLease, "how long writes stay paused if shardctl dies during the cut-over (renewed every third of it)")
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	if *lease < 300*time.Millisecond {
		return fmt.Errorf("--lease %v: must be at least 300ms (it is renewed every third of it)", *lease)
	}
	if cmd != "status" && cmd != "plan" && cmd != "apply" {
		return fmt.Errorf("unknown command %q\n%s", cmd, strings.TrimSpace(usage))
	}
	if cmd != "status" && *to == 0 && !flagSet(fs, "to") {
		return fmt.Errorf("%s needs --to N", cmd)
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	// The api seeds the map from its own SHARD_DSNS; shardctl only reads it.
	e, err := reshard.Open(ctx, cfg.catalog, cfg.known, shardmap.Map{})
	if err != nil {
		return err
	}
	defer e.Close()
	e.Lease = *lease
	switch cmd {
	case "status":
		return status(ctx, e, cfg.replicas, stdout)
	case "plan":
		return plan(ctx, e, *to, *router, stdout)
	}
	return apply(ctx, e, *to, *router, *dryRun, stdout, stderr)
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// plan prints what a reshard to n shards would move, for every router.
func plan(ctx context.Context, e *reshard.Engine, n int, router string, stdout io.Writer) error {
	cur, err := e.Current(ctx)
	if err != nil {
		return err
	}
	to, err := e.Target(cur, n, router)
	if err != nil {
		return err
	}
	if err := e.Reachable(ctx, cur, to); err != nil {
		return err
	}
	p, err := e.Plan(ctx, cur, to)
	if err != nil {
		return err
	}
	p.Write(stdout)
	return nil
}
