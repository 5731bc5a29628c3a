package platform

import (
	"net/http"
	"testing"
	"time"
)

// A config that sets a limit keeps it; one that leaves it unset (or not
// above zero) gets the project's default.
func TestLimitsOrDefault(t *testing.T) {
	got := Limits{HeaderTimeout: time.Second, IdleTimeout: -1}.OrDefault()
	want := Limits{HeaderTimeout: time.Second, IdleTimeout: 90 * time.Second, MaxHeaderBytes: 64 << 10}
	if got != want {
		t.Errorf("OrDefault: %+v, want %+v", got, want)
	}
	if got := (Limits{}).OrDefault(); got != DefaultLimits() {
		t.Errorf("OrDefault of no limits: %+v, want DefaultLimits %+v", got, DefaultLimits())
	}
}

// Apply gives a net/http server the three limits under its own names.
func TestLimitsApply(t *testing.T) {
	srv := DefaultLimits().Apply(&http.Server{})
	if srv.ReadHeaderTimeout != 5*time.Second || srv.IdleTimeout != 90*time.Second || srv.MaxHeaderBytes != 64<<10 {
		t.Errorf("Apply: %v %v %d, want 5s 1m30s 65536", srv.ReadHeaderTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
}
