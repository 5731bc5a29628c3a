package breaker_test

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"scalelab/services/api/internal/breaker"
)

// Wiring a breaker to a state gauge (one series per breaker and state, 1 for
// the current one: bounded labels) and to a log line.
func Example() {
	state := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "scalelab_api_breaker_state",
		Help: "Circuit breaker state: 1 for the current state of each breaker.",
	}, []string{"breaker", "state"})

	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := breaker.New("redis", 2, time.Second, func() time.Time { return now })
	b.OnStateChange = func(from, to breaker.State) {
		state.WithLabelValues(b.Name(), from.String()).Set(0)
		state.WithLabelValues(b.Name(), to.String()).Set(1)
		fmt.Printf("breaker %s: %s -> %s\n", b.Name(), from, to)
	}

	b.Failure()
	b.Failure()            // second in a row: opens
	fmt.Println(b.Allow()) // open: skip Redis, go to PostgreSQL
	now = now.Add(time.Second)
	fmt.Println(b.Allow()) // cooldown over: this call is the probe
	fmt.Println(b.Allow()) // everyone else still skips
	b.Success()            // probe worked: closed
	fmt.Println(b.Allow())

	// Output:
	// breaker redis: closed -> open
	// false
	// breaker redis: open -> half-open
	// true
	// false
	// breaker redis: half-open -> closed
	// true
}
