package loadgen

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// plan is what the targeter sends: the steps (a scenario's, or one GET per
// -url) and the bases they are joined to.
type plan struct {
	steps []Step
	slots []int    // request number -> step (see Scenario.stepSlots)
	bases []string // rotated; "" when the steps hold whole URLs
}

func newPlan(cfg *Config) *plan {
	if cfg.Scenario != nil {
		return &plan{steps: cfg.Scenario.Steps, slots: cfg.Scenario.stepSlots(), bases: cfg.Targets}
	}
	// -url: each URL is a step of weight 1, so they are sent in turn.
	p := &plan{bases: []string{""}}
	for i, u := range cfg.URLs {
		p.steps = append(p.steps, Step{Name: "url" + strconv.Itoa(i+1), Weight: 1, Method: cfg.Method, Path: u, Body: cfg.Body})
		p.slots = append(p.slots, i)
	}
	return p
}

// targeter returns vegeta's source of requests. It numbers the requests
// itself: the number picks the step and the target, and past n it reports
// ErrNoTargets, which ends the attack (the -n bound).
//
// The step's name rides in the URL's fragment: a client never sends a
// fragment, and vegeta hands the URL back in each Result, which is how the
// results are told apart by step without a lookup table shared between
// goroutines.
func (p *plan) targeter(cfg *Config) vegeta.Targeter {
	var next atomic.Int64
	var pickID func() int64
	n := int64(cfg.N)
	switch {
	case cfg.Sequential:
		n = min(n, int64(cfg.IDs.Size()))
		pickID = nil // the request number is the id (below)
	case cfg.IDs != nil:
		pickID = newIDPicker(*cfg.IDs, cfg.Zipf)
	}
	return func(t *vegeta.Target) error {
		i := next.Add(1) - 1
		if i >= n {
			return vegeta.ErrNoTargets
		}
		pick := pickID
		if cfg.Sequential {
			pick = func() int64 { return cfg.IDs.Lo + i }
		}
		st := &p.steps[p.slots[i%int64(len(p.slots))]]
		base := p.bases[i%int64(len(p.bases))]
		u, body := base+st.Path, st.Body
		if pick != nil {
			id := strconv.FormatInt(pick(), 10)
			u = strings.ReplaceAll(u, "{id}", id)
			body = strings.ReplaceAll(body, "{id}", id)
		}
		t.Method, t.URL = st.Method, u+"#"+st.Name
		t.Body = nil
		if body != "" {
			t.Body = []byte(body)
		}
		t.Header = make(http.Header, len(cfg.Header)+len(st.Header))
		for k, v := range cfg.Header {
			t.Header[k] = v
		}
		for k, v := range st.Header {
			t.Header[k] = v
		}
		return nil
	}
}

// stepOf returns the step name carried in a result's URL and the URL
// without it.
func stepOf(u string) (step, clean string) {
	if i := strings.LastIndexByte(u, '#'); i >= 0 {
		return u[i+1:], u[:i]
	}
	return "", u
}
