package loadgen

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// A Scenario is a named request mix: each step is sent in proportion to its
// weight, against every target in turn. The same scenarios exist as k6
// scripts in loadtest/k6 (one module per scenario, same name), so a user with
// k6 can run the same mix; a test checks that every scenario has both forms.
type Scenario struct {
	Name        string
	Description string
	Steps       []Step
	// DefaultIDs is the id range used when none is given (the stack's seed
	// users, 1-10000, for the user scenarios).
	DefaultIDs *IDRange
}

// A Step is one kind of request. Path is joined to the target (or is a whole
// URL); "{id}" in Path and Body is replaced by the request's key.
type Step struct {
	Name   string
	Weight int
	Method string
	Path   string
	Body   string
	Header http.Header
}

var seedUsers = &IDRange{1, 10000}

var jsonHeader = http.Header{"Content-Type": {"application/json"}}

const userBody = `{"name":"user {id}","email":"user{id}@example.com"}`

// Scenarios are the built-in mixes, by name.
var Scenarios = map[string]*Scenario{
	"hello": {
		Name:        "hello",
		Description: "GET / on the lb: which replica answered (X-Served-By)",
		Steps:       []Step{{Name: "hello", Weight: 1, Method: "GET", Path: "/"}},
	},
	"read": {
		Name:        "read",
		Description: "GET /users/{id}: the cache and the shards (X-Cache, X-Shard)",
		Steps:       []Step{{Name: "read", Weight: 1, Method: "GET", Path: "/users/{id}"}},
		DefaultIDs:  seedUsers,
	},
	"mixed": {
		Name:        "mixed",
		Description: "90% GET /users/{id}, 10% PUT /users/{id}: reads with invalidating writes",
		Steps: []Step{
			{Name: "read", Weight: 9, Method: "GET", Path: "/users/{id}"},
			{Name: "write", Weight: 1, Method: "PUT", Path: "/users/{id}", Body: userBody, Header: jsonHeader},
		},
		DefaultIDs: seedUsers,
	},
	"write": {
		Name:        "write",
		Description: "PUT /users/{id}: write latency under the cache strategy",
		Steps:       []Step{{Name: "write", Weight: 1, Method: "PUT", Path: "/users/{id}", Body: userBody, Header: jsonHeader}},
		DefaultIDs:  seedUsers,
	},
	"assets": {
		Name:        "assets",
		Description: "GET /logo.png?v={id} on an edge: one cached object per id (X-Cache, Age)",
		Steps:       []Step{{Name: "asset", Weight: 1, Method: "GET", Path: "/logo.png?v={id}"}},
		DefaultIDs:  &IDRange{1, 1000},
	},
}

// ScenarioNames lists the built-in scenarios, sorted.
func ScenarioNames() []string { return slices.Sorted(maps.Keys(Scenarios)) }

// LookupScenario returns the named built-in scenario or an error listing them.
func LookupScenario(name string) (*Scenario, error) {
	if s, ok := Scenarios[name]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("-scenario %q: unknown; one of %s", name, strings.Join(ScenarioNames(), ", "))
}

func (s *Scenario) validate() error {
	if len(s.Steps) == 0 {
		return fmt.Errorf("scenario %s has no steps", s.Name)
	}
	for _, st := range s.Steps {
		if st.Weight < 1 || st.Name == "" || st.Method == "" || st.Path == "" {
			return fmt.Errorf("scenario %s: step %q needs a name, a method, a path and a weight >= 1", s.Name, st.Name)
		}
	}
	return nil
}

func (s *Scenario) usesID() bool {
	for _, st := range s.Steps {
		if strings.Contains(st.Path, "{id}") || strings.Contains(st.Body, "{id}") {
			return true
		}
	}
	return false
}

// stepSlots expands the weights into a table indexed by request number, so
// a mix of 9:1 sends exactly 9 reads for every write, whatever the
// concurrency (a random draw would only come close), each step's requests
// evenly spaced (smooth weighted round robin, as nginx balances upstreams).
func (s *Scenario) stepSlots() []int {
	total := 0
	for _, st := range s.Steps {
		total += st.Weight
	}
	out := make([]int, 0, total)
	credit := make([]int, len(s.Steps))
	for range total {
		best := 0
		for i, st := range s.Steps {
			credit[i] += st.Weight
			if credit[i] > credit[best] {
				best = i
			}
		}
		credit[best] -= total
		out = append(out, best)
	}
	return out
}
