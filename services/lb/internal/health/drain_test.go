package health

import (
	"testing"
	"time"
)

func TestDrain(t *testing.T) {
	bs := backends(3)
	tr, _ := newTracker(t, passive(), bs)

	if tr.SetDrained("10.9.9.9:80", true) {
		t.Errorf("draining an unknown address reported found")
	}
	if !tr.SetDrained(bs[1].Addr, true) {
		t.Fatalf("draining %s reported not found", bs[1].Addr)
	}
	if got, want := addrs(tr.Available()), bs[0].Addr+","+bs[2].Addr; got != want {
		t.Fatalf("with %s drained, available %q, want %q", bs[1].Addr, got, want)
	}
	if st := tr.Status(); st[1].State != "drained" || !st[1].Drained || st[0].State != "available" {
		t.Errorf("status %+v, want the second drained and the first available", st)
	}

	// Every backend drained: none is available, not even in panic mode,
	// and the lb is not ready.
	tr.SetDrained(bs[0].Addr, true)
	tr.SetDrained(bs[2].Addr, true)
	if got := tr.Available(); len(got) != 0 {
		t.Errorf("all drained, available %q, want none", addrs(got))
	}
	if err := tr.Ready(t.Context()); err == nil {
		t.Errorf("all drained, Ready() = nil, want an error")
	}

	for _, b := range bs {
		tr.SetDrained(b.Addr, false)
	}
	if got, want := addrs(tr.Available()), addrs(bs); got != want {
		t.Errorf("undrained, available %q, want %q", got, want)
	}
}

// Panic mode (nothing healthy: try them all) leaves the drained out.
func TestDrainedStayOutInPanicMode(t *testing.T) {
	bs := backends(2)
	tr, _ := newTracker(t, passive(), bs)
	tr.SetDrained(bs[0].Addr, true)
	fail(tr, bs[1], 3) // ejects bs[1]: nothing healthy is left
	if got := addrs(tr.Available()); got != bs[1].Addr {
		t.Errorf("available %q, want only the undrained %s (panic mode)", got, bs[1].Addr)
	}
	st := tr.Status()[1]
	if st.State != "ejected" || st.Ejections != 1 || st.EjectedUntil.Before(time.Now()) {
		t.Errorf("status of the ejected backend %+v, want ejected once, until a time to come", st)
	}
}
