// Package loadgen sends a fixed number of HTTP requests with a fixed number
// of concurrent workers and summarises what came back. cmd/loadgen is a thin
// flag-parsing wrapper around Run.
package loadgen

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Limits. They exist so a typo (an extra zero) cannot turn a lab exercise
// into an hour-long run or an out-of-memory crash: every latency is kept in
// memory for exact percentiles (10M requests = 80 MB).
const (
	MaxRequests    = 10_000_000
	MaxConcurrency = 1024
	// math/rand/v2's Zipf only supports s > 1. For 0 < s <= 1 (s = 1 is the
	// classic Zipf law) we sample from a precomputed table of n float64s, so
	// the id range must stay small enough for that table (8 MB).
	maxZipfTable = 1_000_000
)

// Config describes one run. Start from DefaultConfig and override fields.
type Config struct {
	URLs        []string      // rotated round-robin; "{id}" is replaced per request
	N           int           // total requests
	Concurrency int           // parallel workers (and idle connections kept per host)
	Duration    time.Duration // hard cap on the run; it stops by itself
	Timeout     time.Duration // per request, including reading the body
	Method      string
	Body        string
	Header      http.Header // a "Host" entry is sent as the Host header
	IDs         *IDRange    // required iff a URL contains "{id}"
	Zipf        float64     // 0 = uniform ids; > 0 = Zipf exponent s (low ids are hot)
}

// DefaultConfig returns the defaults documented in the CLI.
func DefaultConfig() Config {
	return Config{
		N:           1000,
		Concurrency: 8,
		Duration:    30 * time.Second,
		Timeout:     5 * time.Second,
		Method:      http.MethodGet,
		Header:      http.Header{},
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
	if len(c.URLs) == 0 {
		return errors.New("-url is required, e.g. -url http://localhost:8000/users/{id}")
	}
	usesID := false
	for _, raw := range c.URLs {
		usesID = usesID || strings.Contains(raw, "{id}")
		u, err := url.Parse(strings.ReplaceAll(raw, "{id}", "1"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("-url %q: want an absolute http:// or https:// URL", raw)
		}
	}
	switch {
	case c.N < 1 || c.N > MaxRequests:
		return fmt.Errorf("-n must be between 1 and %d (got %d)", MaxRequests, c.N)
	case c.Concurrency < 1 || c.Concurrency > MaxConcurrency:
		return fmt.Errorf("-c must be between 1 and %d (got %d)", MaxConcurrency, c.Concurrency)
	case c.Duration <= 0:
		return fmt.Errorf("-duration must be > 0 (got %v); it caps the run so it always ends", c.Duration)
	case c.Timeout <= 0:
		return fmt.Errorf("-timeout must be > 0 (got %v)", c.Timeout)
	case c.Method == "" || strings.Trim(c.Method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "":
		return fmt.Errorf("-method %q: want an upper-case HTTP method such as GET or POST", c.Method)
	case usesID && c.IDs == nil:
		return errors.New("-url contains {id} but -ids is not set, e.g. -ids 1-10000")
	case !usesID && c.IDs != nil:
		return errors.New("-ids is set but no -url contains {id}")
	case c.Zipf < 0:
		return fmt.Errorf("-zipf must be >= 0 (got %v); 0 means uniform", c.Zipf)
	case c.Zipf > 0 && c.IDs == nil:
		return errors.New("-zipf needs -ids (and {id} in the URL)")
	case c.Zipf > 0 && c.Zipf <= 1 && c.IDs.Size() > maxZipfTable:
		return fmt.Errorf("-zipf %v <= 1 supports at most %d ids (got %d); narrow -ids or use -zipf > 1",
			c.Zipf, maxZipfTable, c.IDs.Size())
	}
	return nil
}
