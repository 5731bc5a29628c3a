package httpcache

import (
	"net/http"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

func httpDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

func TestFreshnessLifetime(t *testing.T) {
	const heuristicMax = 24 * time.Hour
	tests := []struct {
		name          string
		status        int
		header        map[string]string
		wantLifetime  time.Duration
		wantHeuristic bool
	}{
		{"RFC9111 4.2.1 s-maxage first", 200, map[string]string{"Cache-Control": "max-age=5, s-maxage=50", "Expires": httpDate(t0.Add(time.Hour))}, 50 * time.Second, false},
		{"RFC9111 4.2.1 max-age before Expires", 200, map[string]string{"Cache-Control": "max-age=5", "Expires": httpDate(t0.Add(time.Hour))}, 5 * time.Second, false},
		{"RFC9111 4.2.1 Expires minus Date", 200, map[string]string{"Date": httpDate(t0.Add(-10 * time.Second)), "Expires": httpDate(t0.Add(50 * time.Second))}, 60 * time.Second, false},
		{"RFC9111 4.2.1 Expires without Date uses the time received", 200, map[string]string{"Expires": httpDate(t0.Add(30 * time.Second))}, 30 * time.Second, false},
		{"RFC9111 5.3 Expires in the past", 200, map[string]string{"Date": httpDate(t0), "Expires": httpDate(t0.Add(-time.Hour))}, 0, false},
		{"RFC9111 5.3 invalid Expires means expired", 200, map[string]string{"Expires": "0", "Last-Modified": httpDate(t0.Add(-1000 * time.Hour))}, 0, false},
		{"RFC9111 4.2.2 heuristic is 10% of Date minus Last-Modified", 200, map[string]string{"Date": httpDate(t0), "Last-Modified": httpDate(t0.Add(-10 * time.Hour))}, time.Hour, true},
		{"RFC9111 4.2.2 heuristic is capped", 200, map[string]string{"Date": httpDate(t0), "Last-Modified": httpDate(t0.Add(-10000 * time.Hour))}, heuristicMax, true},
		{"RFC9111 4.2.2 no heuristic without Last-Modified", 200, map[string]string{"Date": httpDate(t0)}, 0, true},
		{"RFC9111 4.2.2 no heuristic for Last-Modified in the future", 200, map[string]string{"Date": httpDate(t0), "Last-Modified": httpDate(t0.Add(time.Hour))}, 0, true},
		{"RFC9111 4.2.2 heuristic for a 404", 404, map[string]string{"Date": httpDate(t0), "Last-Modified": httpDate(t0.Add(-10 * time.Hour))}, time.Hour, true},
		{"RFC9111 4.2.2 no heuristic for a 302", 302, map[string]string{"Date": httpDate(t0), "Last-Modified": httpDate(t0.Add(-10 * time.Hour))}, 0, false},
		{"RFC9111 4.2.2 heuristic for a public 302", 302, map[string]string{"Cache-Control": "public", "Date": httpDate(t0), "Last-Modified": httpDate(t0.Add(-10 * time.Hour))}, time.Hour, true},
		{"RFC9213 2.1 CDN-Cache-Control wins over Cache-Control", 200, map[string]string{"Cache-Control": "max-age=5", "CDN-Cache-Control": "max-age=500"}, 500 * time.Second, false},
		{"RFC9213 2.1 CDN-Cache-Control makes Expires ignored", 200, map[string]string{"Expires": httpDate(t0.Add(time.Hour)), "CDN-Cache-Control": "public"}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			cc, cdn := responseDirectives(h)
			got, heuristic := freshnessLifetime(tt.status, h, cc, cdn, t0, heuristicMax)
			if got != tt.wantLifetime || heuristic != tt.wantHeuristic {
				t.Errorf("lifetime = %v (heuristic %v), want %v (heuristic %v)", got, heuristic, tt.wantLifetime, tt.wantHeuristic)
			}
		})
	}
}

func TestAgeCalculation(t *testing.T) {
	tests := []struct {
		name         string
		date         time.Time // zero: no Date
		age          string
		requestTime  time.Time
		responseTime time.Time
		now          time.Time
		want         time.Duration
	}{
		{"RFC9111 4.2.3 fresh response, no time held", t0, "", t0, t0, t0, 0},
		{"RFC9111 4.2.3 resident time adds up", t0, "", t0, t0, t0.Add(7 * time.Second), 7 * time.Second},
		{"RFC9111 4.2.3 apparent age from Date", t0.Add(-5 * time.Second), "", t0, t0, t0, 5 * time.Second},
		{"RFC9111 4.2.3 Date in the future gives no negative age", t0.Add(time.Hour), "", t0, t0, t0, 0},
		{"RFC9111 4.2.3 Age plus response delay", t0, "10", t0.Add(-2 * time.Second), t0, t0, 12 * time.Second},
		{"RFC9111 4.2.3 the larger of apparent and corrected age", t0.Add(-30 * time.Second), "10", t0.Add(-2 * time.Second), t0, t0.Add(time.Second), 31 * time.Second},
		{"RFC9111 4.2.3 invalid Age counts as zero", time.Time{}, "soon", t0, t0, t0.Add(time.Second), time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if !tt.date.IsZero() {
				h.Set("Date", httpDate(tt.date))
			}
			if tt.age != "" {
				h.Set("Age", tt.age)
			}
			e := &Entry{ResponseTime: tt.responseTime, CorrectedInitialAge: correctedInitialAge(h, tt.requestTime, tt.responseTime)}
			if got := e.Age(tt.now); got != tt.want {
				t.Errorf("Age = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	// entry stored at t0 with lifetime 10s, whatever its directives.
	entry := func(cc string) *Entry {
		return &Entry{ResponseTime: t0, Lifetime: 10 * time.Second, CC: ParseCacheControl(cc)}
	}
	tests := []struct {
		name       string
		cc         string // the entry's directives
		req        string // the request's
		at         time.Duration
		want       use
		wantForced bool
	}{
		{"RFC9111 4.2 fresh is served", "max-age=10", "", 5 * time.Second, useFresh, false},
		{"RFC9111 4.2 stale at exactly its lifetime", "max-age=10", "", 10 * time.Second, useValidate, false},
		{"RFC9111 5.2.2.4 no-cache response is always validated", "no-cache, max-age=10", "", 0, useValidate, false},
		{"RFC9111 5.2.1.4 request no-cache validates a fresh entry", "max-age=10", "no-cache", time.Second, useValidate, true},
		{"RFC9111 5.2.1.1 request max-age below the age validates", "max-age=10", "max-age=3", 5 * time.Second, useValidate, true},
		{"RFC9111 5.2.1.1 request max-age above the age is served", "max-age=10", "max-age=6", 5 * time.Second, useFresh, false},
		{"RFC9111 5.2.1.3 min-fresh wants more freshness", "max-age=10", "min-fresh=6", 5 * time.Second, useValidate, true},
		{"RFC9111 5.2.1.3 min-fresh satisfied", "max-age=10", "min-fresh=4", 5 * time.Second, useFresh, false},
		{"RFC9111 5.2.1.2 max-stale accepts a stale entry", "max-age=10", "max-stale=5", 14 * time.Second, useStale, false},
		{"RFC9111 5.2.1.2 max-stale without value accepts any", "max-age=10", "max-stale", time.Hour, useStale, false},
		{"RFC9111 5.2.1.2 max-stale exceeded", "max-age=10", "max-stale=5", 16 * time.Second, useValidate, false},
		{"RFC9111 5.2.2.2 must-revalidate beats max-stale", "max-age=10, must-revalidate", "max-stale", 11 * time.Second, useValidate, false},
		{"RFC9111 5.2.2.8 proxy-revalidate beats max-stale", "max-age=10, proxy-revalidate", "max-stale", 11 * time.Second, useValidate, false},
		{"RFC9111 5.2.2.10 s-maxage beats max-stale", "s-maxage=10", "max-stale", 11 * time.Second, useValidate, false},
		{"RFC5861 3 stale-while-revalidate within the window", "max-age=10, stale-while-revalidate=30", "", 35 * time.Second, useStaleAsync, false},
		{"RFC5861 3 stale-while-revalidate past the window", "max-age=10, stale-while-revalidate=30", "", 41 * time.Second, useValidate, false},
		{"RFC5861 3 stale-while-revalidate yields to must-revalidate", "max-age=10, must-revalidate, stale-while-revalidate=30", "", 11 * time.Second, useValidate, false},
		{"RFC5861 3 stale-while-revalidate yields to a request no-cache", "max-age=10, stale-while-revalidate=30", "no-cache", 11 * time.Second, useValidate, true},
		{"RFC8246 2.1 immutable ignores a reload while fresh", "max-age=10, immutable", "no-cache", 5 * time.Second, useFresh, false},
		{"RFC8246 2.1 immutable ignores max-age=0 while fresh", "max-age=10, immutable", "max-age=0", 5 * time.Second, useFresh, false},
		{"RFC8246 2.1 immutable and stale is validated", "max-age=10, immutable", "", 11 * time.Second, useValidate, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, forced := decide(entry(tt.cc), ParseCacheControl(tt.req), t0.Add(tt.at))
			if got != tt.want || forced != tt.wantForced {
				t.Errorf("decide = %v (forced %v), want %v (forced %v)", got, forced, tt.want, tt.wantForced)
			}
		})
	}
}

func TestStaleIfErrorWindow(t *testing.T) {
	entry := func(cc string) *Entry {
		return &Entry{ResponseTime: t0, Lifetime: 10 * time.Second, CC: ParseCacheControl(cc)}
	}
	tests := []struct {
		name    string
		cc      string
		req     string
		edge    time.Duration // EDGE_STALE_IF_ERROR
		stale   time.Duration // how long past its lifetime
		allowed bool
	}{
		{"RFC5861 4 within the origin's stale-if-error", "max-age=10, stale-if-error=60", "", 0, 30 * time.Second, true},
		{"RFC5861 4 past the origin's stale-if-error", "max-age=10, stale-if-error=60", "", 0, 61 * time.Second, false},
		{"RFC5861 4 the request's stale-if-error", "max-age=10", "stale-if-error=60", 0, 30 * time.Second, true},
		{"RFC9111 4.2.4 no leave from anyone", "max-age=10", "", 0, time.Second, false},
		{"RFC9111 4.2.4 EDGE_STALE_IF_ERROR gives leave", "max-age=10", "", time.Minute, 30 * time.Second, true},
		{"RFC9111 4.2.4 EDGE_STALE_IF_ERROR has a bound", "max-age=10", "", time.Minute, 61 * time.Second, false},
		{"RFC9111 5.2.2.2 must-revalidate forbids it", "max-age=10, must-revalidate, stale-if-error=60", "", time.Minute, time.Second, false},
		{"RFC9111 5.2.2.4 no-cache forbids it", "no-cache, stale-if-error=60", "", time.Minute, time.Second, false},
		{"RFC9111 5.2.2.10 s-maxage forbids the edge's own leave", "s-maxage=10", "", time.Minute, time.Second, false},
		{"RFC9111 5.2.2.10 s-maxage with the origin's stale-if-error", "s-maxage=10, stale-if-error=60", "", 0, time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Cache{cfg: Config{StaleIfError: tt.edge}}
			got := c.staleIfError(entry(tt.cc), ParseCacheControl(tt.req), t0.Add(10*time.Second+tt.stale))
			if got != tt.allowed {
				t.Errorf("staleIfError = %v, want %v", got, tt.allowed)
			}
		})
	}
}
