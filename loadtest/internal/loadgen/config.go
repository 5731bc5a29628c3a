// Package loadgen drives HTTP load at the lab and records what came back:
// status classes, latency in an HDR histogram, a per-second series for charts
// and which replica, cache or shard answered (X-Served-By, X-Cache,
// X-Shard). Requests are sent by the vegeta library's attacker, either
// closed-loop (a fixed number of workers, each sending its next request when
// the last returned) or open-loop (a fixed arrival rate, whatever the
// latency: the only honest way to see latency under overload, since a closed
// loop slows down with the server and hides the queue it builds, the
// "coordinated omission" of Gil Tene's talk). cmd/loadgen is a thin
// flag-parsing wrapper around Run; the experiments call Run directly.
package loadgen

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Limits. They exist so a typo (an extra zero) cannot turn a lab exercise
// into an hour-long run or an out-of-memory crash.
const (
	MaxRequests    = 10_000_000
	MaxConcurrency = 1024
	MaxRate        = 100_000
	MaxDuration    = time.Hour
	// math/rand/v2's Zipf only supports s > 1. For 0 < s <= 1 (s = 1 is the
	// classic Zipf law) we sample from a precomputed table of n float64s, so
	// the id range must stay small enough for that table (8 MB).
	maxZipfTable = 1_000_000
)

// Config describes one run. Start from DefaultConfig and override fields.
type Config struct {
	// What to send: a Scenario's steps against Targets (base URLs, rotated),
	// or, when Scenario is nil, Method and Body to URLs (absolute, rotated).
	Scenario *Scenario
	Targets  []string
	URLs     []string
	Method   string
	Body     string
	Header   http.Header // added to every request; a "Host" entry is sent as the Host header

	IDs  *IDRange // substituted for "{id}"; required iff a URL or step uses it
	Zipf float64  // 0 = uniform ids; > 0 = Zipf exponent s (low ids are hot)
	// Sequential sends the ids in order, each once (Lo, Lo+1, ...): cold
	// keys for a cache, every one a miss. The run stops after the last id.
	Sequential bool

	// How: Rate > 0 is open loop (Rate requests per second, at most
	// Concurrency in flight); Rate 0 is closed loop with Concurrency workers.
	Rate        int
	Concurrency int
	N           int           // total requests; the run stops at N or Duration, whichever comes first
	Duration    time.Duration // hard cap on the run; it always stops by itself
	Timeout     time.Duration // per request, including reading the body

	// Progress, when set, gets a live one-line summary (redrawn in place
	// when ProgressTTY, plain lines every ProgressEvery otherwise).
	Progress      io.Writer
	ProgressTTY   bool
	ProgressEvery time.Duration
}

// DefaultConfig returns the defaults documented in the CLI.
func DefaultConfig() Config {
	return Config{
		N:             MaxRequests,
		Concurrency:   8,
		Duration:      30 * time.Second,
		Timeout:       5 * time.Second,
		Method:        http.MethodGet,
		Header:        http.Header{},
		ProgressEvery: 5 * time.Second,
	}
}

// IDRange is an inclusive range of ids, e.g. 1-10000.
type IDRange struct{ Lo, Hi int64 }

// ParseIDRange parses "LO-HI" (or a single "ID"), both non-negative.
func ParseIDRange(s string) (IDRange, error) {
	loStr, hiStr, found := strings.Cut(s, "-")
	if !found {
		hiStr = loStr
	}
	lo, err1 := strconv.ParseInt(strings.TrimSpace(loStr), 10, 64)
	hi, err2 := strconv.ParseInt(strings.TrimSpace(hiStr), 10, 64)
	if err1 != nil || err2 != nil || lo < 0 || hi < lo {
		return IDRange{}, fmt.Errorf("-ids %q: want LO-HI with 0 <= LO <= HI, e.g. 1-10000", s)
	}
	return IDRange{lo, hi}, nil
}

// Size is the number of ids in the range (uint64: 0-MaxInt64 has 2^63 ids).
func (r IDRange) Size() uint64 { return uint64(r.Hi-r.Lo) + 1 }

func (r IDRange) String() string { return fmt.Sprintf("%d-%d", r.Lo, r.Hi) }

// Validate reports the first problem with c as a one-line error that names
// the offending flag, so the CLI can print it as is.
func (c *Config) Validate() error {
	if err := c.validateWhat(); err != nil {
		return err
	}
	switch {
	case c.N < 1 || c.N > MaxRequests:
		return fmt.Errorf("-n must be between 1 and %d (got %d)", MaxRequests, c.N)
	case c.Concurrency < 1 || c.Concurrency > MaxConcurrency:
		return fmt.Errorf("-c must be between 1 and %d (got %d)", MaxConcurrency, c.Concurrency)
	case c.Rate < 0 || c.Rate > MaxRate:
		return fmt.Errorf("-rate must be between 0 (closed loop) and %d (got %d)", MaxRate, c.Rate)
	case c.Duration <= 0 || c.Duration > MaxDuration:
		return fmt.Errorf("-duration must be > 0 and <= %v (got %v); it caps the run so it always ends", MaxDuration, c.Duration)
	case c.Timeout <= 0:
		return fmt.Errorf("-timeout must be > 0 (got %v)", c.Timeout)
	case c.Zipf < 0:
		return fmt.Errorf("-zipf must be >= 0 (got %v); 0 means uniform", c.Zipf)
	case c.Sequential && (c.IDs == nil || c.Zipf > 0):
		return errors.New("-seq needs -ids and no -zipf: it sends each id once, in order")
	case c.Zipf > 0 && c.IDs == nil:
		return errors.New("-zipf needs -ids (and {id} in the URL or scenario)")
	case c.Zipf > 0 && c.Zipf <= 1 && c.IDs.Size() > maxZipfTable:
		return fmt.Errorf("-zipf %v <= 1 supports at most %d ids (got %d); narrow -ids or use -zipf > 1",
			c.Zipf, maxZipfTable, c.IDs.Size())
	}
	return nil
}

// validateWhat checks the targets, URLs, scenario and ids.
func (c *Config) validateWhat() error {
	usesID := false
	if c.Scenario != nil {
		if len(c.URLs) > 0 {
			return errors.New("-url and -scenario exclude each other: a scenario's paths go to each -target")
		}
		if len(c.Targets) == 0 {
			return fmt.Errorf("-scenario %s needs -target, e.g. -target http://localhost:8000", c.Scenario.Name)
		}
		for _, t := range c.Targets {
			if err := checkURL("-target", t); err != nil {
				return err
			}
		}
		if err := c.Scenario.validate(); err != nil {
			return err
		}
		usesID = c.Scenario.usesID()
	} else {
		if len(c.Targets) > 0 {
			return errors.New("-target needs -scenario (or give whole URLs with -url)")
		}
		if len(c.URLs) == 0 {
			return errors.New("-url or -scenario is required, e.g. -url http://localhost:8000/users/{id} -ids 1-10000")
		}
		for _, raw := range c.URLs {
			usesID = usesID || strings.Contains(raw, "{id}")
			if err := checkURL("-url", strings.ReplaceAll(raw, "{id}", "1")); err != nil {
				return err
			}
		}
		if c.Method == "" || strings.Trim(c.Method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			return fmt.Errorf("-method %q: want an upper-case HTTP method such as GET or POST", c.Method)
		}
		usesID = usesID || strings.Contains(c.Body, "{id}")
	}
	switch {
	case usesID && c.IDs == nil:
		return errors.New("{id} is used but -ids is not set, e.g. -ids 1-10000")
	case !usesID && c.IDs != nil:
		return errors.New("-ids is set but no URL, body or scenario step contains {id}")
	}
	return nil
}

func checkURL(flagName, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s %q: want an absolute http:// or https:// URL", flagName, raw)
	}
	return nil
}
