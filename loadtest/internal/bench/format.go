package bench

import (
	"fmt"
	"time"
)

// Ms prints a latency in milliseconds, the unit the lab uses everywhere.
func Ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

// Micros prints a CPU time per request in microseconds; "-" when negative
// (unknown).
func Micros(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
}

// Ratio prints a/b as "0.25x"; "-" when b is zero (nothing to compare to).
func Ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}
