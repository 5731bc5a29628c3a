package experiments

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strings"
	"time"

	"scalelab/loadtest/internal/chart"
	"scalelab/loadtest/internal/loadgen"
	"scalelab/loadtest/internal/report"
)

var stateless = &Experiment{
	Name:  "stateless",
	Title: "Stateless replicas: any replica serves any request",
	Claim: "Requests through the load balancer spread over the api replicas; a session made on one replica is valid on all of them, because it lives in Redis; and a replica killed mid-run costs the clients nothing, because the balancer retries elsewhere and takes the dead replica out.",
	Run:   runStateless,
}

func runStateless(ctx context.Context, e *Env, r *report.Report) error {
	r.Headline = "kill_errors"
	lb := e.Stack.URL("LB_PORT")
	ids, err := e.Stack.Containers(ctx, "api")
	if err != nil {
		return err
	}
	r.Setup = append(r.Setup, fmt.Sprintf("%d api replicas behind the lb's L7 port (`LB_BACKENDS=dns://api:8080`, round robin), Redis for sessions", len(ids)))
	sp, err := statelessSpread(ctx, e, r, lb)
	if err != nil {
		return err
	}
	servedBy, err := statelessSession(ctx, r, lb, 3*len(ids))
	if err != nil {
		return err
	}
	kill, err := statelessKill(ctx, e, r, lb, ids[len(ids)-1], sp.replicas)
	if err != nil {
		return err
	}
	switch {
	case sp.even() && len(servedBy) == len(ids) && kill.Errors == 0:
		r.Verdict = report.Held
		r.VerdictText = fmt.Sprintf("%d replicas shared the load (busiest/least busy %.2f), one session was served by all %d, and killing a replica under load cost no request.", len(sp.replicas), sp.ratio(), len(servedBy))
	default:
		r.Verdict = report.Partly
		r.VerdictText = fmt.Sprintf("Spread %v (%d replicas, busiest/least busy %.2f), session on %d of %d replicas, %d errors when a replica was killed.", sp.even(), len(sp.replicas), sp.ratio(), len(servedBy), len(ids), kill.Errors)
	}
	return nil
}

// replicaSpread is how the requests of a closed-loop run fell on the replicas.
type replicaSpread struct {
	replicas []string
	lo, hi   int // requests of the least and the busiest replica
}

func (s replicaSpread) ratio() float64 { return float64(s.hi) / float64(max(s.lo, 1)) }
func (s replicaSpread) even() bool     { return s.lo > 0 && s.ratio() < 1.5 }

// statelessSpread sends `GET /` through the lb and counts who answered.
func statelessSpread(ctx context.Context, e *Env, r *report.Report, lb string) (replicaSpread, error) {
	cfg := scenario("hello", lb)
	cfg.Concurrency, cfg.Duration = 8, e.D(15*time.Second, 5*time.Second)
	rep, err := e.Load(ctx, r, "spread", cfg)
	if err != nil {
		return replicaSpread{}, err
	}
	r.Section("Requests spread over the replicas")
	var sp replicaSpread
	var vals []float64
	var rows [][]string
	for _, c := range rep.Headers["X-Served-By"].Top {
		sp.replicas, vals = append(sp.replicas, c.Value), append(vals, float64(c.Count))
		rows = append(rows, []string{c.Value, fmt.Sprint(c.Count), pct(c.Count, rep.Requests)})
		if sp.lo == 0 || c.Count < sp.lo {
			sp.lo = c.Count
		}
		sp.hi = max(sp.hi, c.Count)
	}
	r.Para("`GET /` through the lb, closed loop with 8 workers for %v: %d requests, %d errors.", cfg.Duration, rep.Requests, rep.Errors)
	r.Table([]string{"replica (X-Served-By)", "requests", "share"}, rows)
	if err := r.Chart("spread.png", "Requests per replica", &chart.Bars{Title: "Requests per replica (GET / through the lb)", YLabel: "requests", Categories: sp.replicas, Groups: []chart.Group{{Name: "requests", Values: vals}}}); err != nil {
		return replicaSpread{}, err
	}
	r.Number("replicas_seen", "replicas that answered", float64(len(sp.replicas)), "")
	if sp.lo > 0 {
		r.Number("spread_max_min", "busiest / least busy replica", sp.ratio(), "×")
	}
	return sp, nil
}

// statelessSession makes a session on one replica and uses it n times.
func statelessSession(ctx context.Context, r *report.Report, lb string, n int) (servedBy []string, err error) {
	created, servedBy, okCount, tries, err := sessionAcross(ctx, lb, n)
	if err != nil {
		return nil, err
	}
	r.Section("A session made on one replica, used on all")
	r.Para("`POST /login` once through the lb (made by **%s**), then `GET /me` %d times with the cookie: %d answered 200, served by %s.",
		created, tries, okCount, strings.Join(servedBy, ", "))
	r.Number("session_replicas", "replicas that accepted the same session", float64(len(servedBy)), "")
	return servedBy, nil
}

// statelessKill runs an open-loop load and kills the victim container a
// third of the way in. The mark is when `docker kill` returned (on a busy
// machine it can take seconds), and the load goes on for the two thirds
// planned after that, so the kill always falls inside the run.
func statelessKill(ctx context.Context, e *Env, r *report.Report, lb, victim string, replicas []string) (*loadgen.Report, error) {
	rate, d := e.N(300, 150), e.D(45*time.Second, 20*time.Second)
	cfg := scenario("hello", lb)
	cfg.Rate, cfg.Concurrency, cfg.Duration = rate, 256, 4*d
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var rep *loadgen.Report
	var loadErr error
	loaded := make(chan struct{})
	t0 := time.Now()
	go func() {
		defer close(loaded)
		rep, loadErr = e.Load(loadCtx, r, "kill", cfg)
	}()
	err := sleep(ctx, d/3)
	var killAt time.Duration
	if err == nil {
		_, err = e.Stack.Docker(ctx, "kill", victim)
		killAt = time.Since(t0)
		e.Logf("killed api container %.12s at %v", victim, killAt.Round(100*time.Millisecond))
	}
	if err == nil {
		err = sleep(ctx, 2*d/3)
	}
	stopLoad()
	<-loaded
	if err == nil {
		err = loadErr
	}
	if err != nil {
		return nil, err
	}
	if err := e.Stack.Restore(ctx); err != nil {
		return nil, err
	}
	return rep, statelessKillReport(r, rep, rate, killAt, replicas)
}

// statelessKillReport writes the kill run's table, charts and numbers.
func statelessKillReport(r *report.Report, rep *loadgen.Report, rate int, killAt time.Duration, replicas []string) error {
	r.Section("A replica killed mid-run")
	r.Para("Open loop at %d requests/s for %v (`GET /`); at %v one api container (%s) was killed with `docker kill` (SIGKILL: no draining; the moment the command returned). The lb finds out from failed tries (passive ejection), retries idempotent requests on another replica, and its health checks take the replica out.",
		rate, time.Duration(len(rep.Series))*time.Second, killAt.Round(100*time.Millisecond), replicaGone(rep, int(killAt/time.Second)))
	r.Table([]string{"", "value"}, [][]string{
		{"requests", fmt.Sprint(rep.Requests)},
		{"errors (transport, 4xx, 5xx)", fmt.Sprintf("%d (%d, %d, %d)", rep.Errors, rep.TransportErrors, rep.Status["4xx"], rep.Status["5xx"])},
		{"p50 / p99 / max", ms(rep.LatencyMillis.P50) + " / " + ms(rep.LatencyMillis.P99) + " / " + ms(rep.LatencyMillis.Max)},
	})
	var lines []chart.Series
	for _, name := range replicas {
		x, y := series(rep, func(s loadgen.Second) float64 { return float64(s.Headers["X-Served-By"][name]) })
		lines = append(lines, chart.Series{Name: name, X: x, Y: y})
	}
	x, y := series(rep, func(s loadgen.Second) float64 { return float64(s.Errors) })
	lines = append(lines, chart.Series{Name: "errors", X: x, Y: y})
	mark := []chart.Mark{{X: killAt.Seconds(), Label: "replica killed"}}
	if err := r.Chart("kill-served-by.png", "Answers per second by replica, and errors, around the kill", &chart.Lines{Title: "Answers per second by replica", XLabel: "seconds", YLabel: "answers/s", Series: lines, Marks: mark}); err != nil {
		return err
	}
	x, p50 := series(rep, func(s loadgen.Second) float64 { return s.LatencyMillis.P50 })
	_, p99 := series(rep, func(s loadgen.Second) float64 { return s.LatencyMillis.P99 })
	if err := r.Chart("kill-latency.png", "Latency per second around the kill", &chart.Lines{Title: "Latency per second", XLabel: "seconds", YLabel: "ms", Series: []chart.Series{{Name: "p50", X: x, Y: p50}, {Name: "p99", X: x, Y: p99}}, Marks: mark}); err != nil {
		return err
	}
	r.Number("kill_errors", "errors while a replica was killed", float64(rep.Errors), "")
	r.Number("kill_p99_ms", "p99 during the kill run", rep.LatencyMillis.P99, "ms")
	return nil
}

// sessionAcross logs in once through the lb and uses the session n times.
func sessionAcross(ctx context.Context, lb string, n int) (created string, servedBy []string, ok, tries int, err error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	req, _ := http.NewRequestWithContext(ctx, "POST", lb+"/login", strings.NewReader(`{"user_id": 42}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", nil, 0, 0, fmt.Errorf("login: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return "", nil, 0, 0, fmt.Errorf("login: %s", resp.Status)
	}
	seen := map[string]bool{}
	for range n {
		req, _ := http.NewRequestWithContext(ctx, "GET", lb+"/me", nil)
		resp, err := c.Do(req)
		if err != nil {
			return "", nil, 0, 0, fmt.Errorf("/me: %w", err)
		}
		var me struct {
			Created  string `json:"session_created_by"`
			ServedBy string `json:"served_by"`
		}
		err = json.NewDecoder(resp.Body).Decode(&me)
		resp.Body.Close()
		tries++
		if resp.StatusCode == 200 && err == nil {
			ok++
			created = me.Created
			seen[me.ServedBy] = true
		}
	}
	return created, slices.Sorted(maps.Keys(seen)), ok, tries, nil
}

// replicaGone names the replica that answered before second t and never
// after it (the killed one), or "" when none did.
func replicaGone(rep *loadgen.Report, t int) string {
	before, after := map[string]bool{}, map[string]bool{}
	for _, s := range rep.Series {
		for name := range s.Headers["X-Served-By"] {
			if s.T < t {
				before[name] = true
			} else if s.T > t+5 {
				after[name] = true
			}
		}
	}
	for name := range before {
		if !after[name] {
			return name
		}
	}
	return "unknown"
}
