package main

import (
	"fmt"

	"scalelab/services/lb/internal/balancer"
	"scalelab/services/platform"
)

// loadPolicy reads LB_POLICY and, for "hash", LB_HASH_KEY and
// LB_HASH_BALANCE_FACTOR. Problems are recorded on env.
func loadPolicy(env *platform.Env) balancer.Policy {
	name := env.String("LB_POLICY", "round_robin")
	var key balancer.HashKey
	factor := 0
	if name == "hash" {
		var err error
		if key, err = balancer.ParseHashKey(env.String("LB_HASH_KEY", "client")); err != nil {
			env.Fail("LB_HASH_KEY", err)
		}
		// 0: no bound; else HAProxy's hash-balance-factor, a percentage of
		// the fair share of at least 100.
		factor = env.Int("LB_HASH_BALANCE_FACTOR", 0, 0, 10000)
		if factor != 0 && factor < 100 {
			env.Fail("LB_HASH_BALANCE_FACTOR", fmt.Errorf("%d: want 0 (no bound) or a percentage of at least 100, e.g. 125", factor))
		}
	}
	p, err := balancer.New(name, key, factor)
	if err != nil {
		env.Fail("LB_POLICY", err)
		return balancer.NewRoundRobin()
	}
	return p
}
