package main

import (
	"context"
	"time"

	"scalelab/loadtest/internal/proc"
)

// replica is one api process listening on loopback. The replicas run as
// real processes, as in production: no shared Go runtime, scheduler or heap
// with the load generator.
type replica struct {
	*proc.Proc
	name     string
	url      string // traffic, e.g. http://127.0.0.1:40001
	adminURL string // /metrics, /readyz
}

// startReplica starts bin with env plus its own name and free loopback
// ports. The environment is built from scratch: a CACHE_STRATEGY or
// SHARD_ROUTER left in the caller's shell must not change the experiment.
func startReplica(bin, name, logDir string, env map[string]string) (*replica, error) {
	addrs, err := proc.FreeAddrs(2)
	if err != nil {
		return nil, err
	}
	vars := map[string]string{"INSTANCE_ID": name, "LISTEN_ADDR": addrs[0], "ADMIN_ADDR": addrs[1]}
	for k, v := range env {
		vars[k] = v
	}
	p, err := proc.Start(name, logDir, bin, nil, vars)
	if err != nil {
		return nil, err
	}
	return &replica{Proc: p, name: name, url: "http://" + addrs[0], adminURL: "http://" + addrs[1]}, nil
}

// waitReady polls /readyz until it answers 200. Ready means every shard
// answers and holds the schema and the seed users.
func (r *replica) waitReady(ctx context.Context, within time.Duration) error {
	return r.WaitHTTP(ctx, r.adminURL+"/readyz", within)
}

// fleet is every replica started, stopped together at the end. Nil
// entries, replicas that were never started, are skipped.
type fleet []*replica

func (f fleet) stop() {
	var g proc.Group
	for _, r := range f {
		if r != nil {
			g = append(g, r.Proc)
		}
	}
	g.Stop()
}
