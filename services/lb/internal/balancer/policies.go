package balancer

import (
	"fmt"
	"strings"
)

// Names lists the policies New knows, as LB_POLICY spells them.
var Names = []string{"round_robin", "weighted_round_robin", "least_conn", "least_request", "hash", "random"}

// New returns the policy called name. key and balanceFactor matter only to
// "hash".
func New(name string, key HashKey, balanceFactor int) (Policy, error) {
	switch name {
	case "round_robin":
		return NewRoundRobin(), nil
	case "weighted_round_robin":
		return NewSmoothWeighted(), nil
	case "least_conn":
		return NewLeastConn(), nil
	case "least_request":
		return NewLeastRequest(), nil
	case "hash":
		if key.kind == "" {
			return nil, fmt.Errorf("hash needs a key")
		}
		return NewHash(key, balanceFactor), nil
	case "random":
		return NewRandom(), nil
	}
	return nil, fmt.Errorf("%q is not a policy (want one of %s)", name, strings.Join(Names, ", "))
}
