package stats

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// ms builds the sorted samples 1ms, 2ms, ..., n ms.
func ms(n int) []time.Duration {
	d := make([]time.Duration, n)
	for i := range d {
		d[i] = time.Duration(i+1) * time.Millisecond
	}
	return d
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{nil, 50, 0},
		{ms(1), 0, 1 * time.Millisecond},
		{ms(1), 50, 1 * time.Millisecond},
		{ms(1), 99, 1 * time.Millisecond},
		{ms(100), 0, 1 * time.Millisecond},
		{ms(100), 50, 50 * time.Millisecond},
		{ms(100), 90, 90 * time.Millisecond},
		{ms(100), 99, 99 * time.Millisecond},
		{ms(100), 99.9, 100 * time.Millisecond},
		{ms(100), 100, 100 * time.Millisecond},
		{ms(10), 50, 5 * time.Millisecond},
		{ms(10), 90, 9 * time.Millisecond},
		{ms(10), 99, 10 * time.Millisecond}, // rank ceil(9.9)=10
		{ms(1000), 99, 990 * time.Millisecond},
		{ms(3), 50, 2 * time.Millisecond},
		{ms(2), 50, 1 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("n=%d/p=%v", len(tt.samples), tt.p), func(t *testing.T) {
			if got := Percentile(tt.samples, tt.p); got != tt.want {
				t.Errorf("Percentile(n=%d, %v) = %v, want %v", len(tt.samples), tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarizeSortsInPlace(t *testing.T) {
	d := ms(100)
	slices.Reverse(d)
	s := Summarize(d)
	want := Summary{Count: 100, P50: 50 * time.Millisecond, P90: 90 * time.Millisecond,
		P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if s != want {
		t.Errorf("Summarize = %+v, want %+v", s, want)
	}
}

func TestCounterTopAndBound(t *testing.T) {
	c := NewCounter(3)
	c.Add("a", 5)
	c.Add("b", 7)
	c.Add("c", 5)
	c.Add("d", 100) // map is full: counted only as overflow
	c.Add("a", 1)

	other := NewCounter(3)
	other.Add("b", 1)
	other.Add("e", 2) // c is full, so this becomes overflow on merge
	c.Merge(other)

	top, rest := c.Top(2)
	want := []Count{{"b", 8}, {"a", 6}}
	if !slices.Equal(top, want) || rest != 5+100+2 {
		t.Errorf("Top(2) = %v, other %d; want %v, other %d", top, rest, want, 107)
	}
	top, rest = c.Top(20)
	if len(top) != 3 || top[2] != (Count{"c", 5}) || rest != 102 {
		t.Errorf("Top(20) = %v, other %d", top, rest)
	}
}
