package experiments

import (
	"context"
	"fmt"
	"slices"
	"time"

	"scalelab/loadtest/internal/chart"
	"scalelab/loadtest/internal/loadgen"
	"scalelab/loadtest/internal/report"
)

var sharding = &Experiment{
	Name:  "sharding",
	Title: "Sharding: users and load per shard under each router, and a live reshard 3→4",
	Claim: "Hashing user ids over shards spreads users evenly under both modulo and consistent hashing; skewed traffic (a few hot users) does not spread as evenly as the users do; and resharding 3→4 online moves about 3/4 of the rows with modulo and 1/4 with consistent hashing, with no failed request.",
	Run:   runSharding,
}

func runSharding(ctx context.Context, e *Env, r *report.Report) error {
	r.Headline = "consistent_moved_pct"
	lb := e.Stack.URL("LB_PORT")
	routers := []string{"modulo", "consistent"}
	if !e.Short {
		routers = append(routers, "rendezvous")
	}
	r.Setup = append(r.Setup,
		fmt.Sprintf("the users (10000 seeded, and any written since) on three PostgreSQL shards, pg-users-3 idle; for each router of %v the tier is resharded online with `shardctl apply` (`make reshard`): to 3 shards under that router (modulo is where `make up` starts), then 3→4 under load; at the end back to 3 shards under modulo, as `make up` leaves it", routers),
		"users per shard: the rows of each shard's `users` table (psql); load per shard: the `X-Shard` header of "+e.D(15*time.Second, 5*time.Second).String()+" of Zipf(s=1.1) reads through the lb",
		"moved rows: every live row's shard read from the databases before and after the reshard (rows on both); against `shardctl plan --to 4`, which computes it from the live ids before the move",
		"load during the reshard: 100 requests/s open loop, 9 reads to 1 write (`mixed`), Zipf(s=1.0) keys, from 5 s before `shardctl apply` to 5 s after it",
	)
	// Whatever happens, the tier goes back to what `make up` makes.
	defer func() {
		if _, err := e.shardctl(context.WithoutCancel(ctx), "apply", "--to", "3", "--router", "modulo"); err != nil {
			e.Logf("could not reshard back to 3 shards under modulo: %v", err)
		}
	}()
	var rows [][]string
	var users, load []chart.Group
	var lives []*liveReshard
	shards := []string{"0", "1", "2"}
	for _, router := range routers {
		if _, err := e.shardctl(ctx, "apply", "--to", "3", "--router", router); err != nil {
			return err
		}
		_, uv, _, err := e.userShards(ctx)
		if err != nil {
			return err
		}
		uv = uv[:3]
		cfg := scenario("read", lb)
		cfg.Concurrency, cfg.Duration, cfg.Zipf = 16, e.D(15*time.Second, 5*time.Second), 1.1
		l, err := e.Load(ctx, r, "load per shard "+router, cfg)
		if err != nil {
			return err
		}
		lv := perShard(l, shards)
		users, load = append(users, chart.Group{Name: router, Values: uv}), append(load, chart.Group{Name: router, Values: lv})
		rows = append(rows, []string{router, fmtShares(uv), report.FormatValue(spread(uv)), fmtShares(lv), report.FormatValue(spread(lv))})
		r.Number(router+"_user_spread", "busiest / least busy shard by users, "+router, spread(uv), "×")
		r.Number(router+"_load_spread", "busiest / least busy shard by Zipf load, "+router, spread(lv), "×")
		lr, err := e.reshardUnderLoad(ctx, r, router)
		if err != nil {
			return err
		}
		lives = append(lives, lr)
	}
	r.Section("Users and load per shard")
	r.Table([]string{"router", "users per shard (0, 1, 2)", "max/min", "Zipf requests per shard", "max/min"}, rows)
	if err := r.Chart("users-per-shard.png", "Users per shard under each router", &chart.Bars{Title: "Users per shard", YLabel: "users", Categories: shards, Groups: users}); err != nil {
		return err
	}
	if err := r.Chart("load-per-shard.png", "Zipf requests per shard under each router", &chart.Bars{Title: "Requests per shard, Zipf s=1.1", YLabel: "requests", Categories: shards, Groups: load}); err != nil {
		return err
	}
	if err := reshardSection(r, lives); err != nil {
		return err
	}
	shardingVerdict(r, lives, users, load)
	return nil
}

// reshardSection reports the live reshards: rows moved against the plan,
// and what the clients saw meanwhile.
func reshardSection(r *report.Report, lives []*liveReshard) error {
	r.Section("A live reshard 3→4 under load")
	var rows [][]string
	var cats []string
	var live, plan []float64
	var p99s []chart.Series
	var marks []chart.Mark
	for _, lr := range lives {
		share := 100 * float64(lr.moved) / float64(max(lr.rows, 1))
		rows = append(rows, []string{lr.router, fmt.Sprintf("%d of %d", lr.moved, lr.rows), fmt.Sprintf("%.1f%%", share),
			fmt.Sprintf("%.1f%%", 100*lr.plan[lr.router]), lr.took.Round(100 * time.Millisecond).String(), lr.pause.Round(time.Millisecond).String(),
			fmt.Sprint(lr.load.Requests), fmt.Sprint(lr.load.Errors), ms(lr.load.LatencyMillis.P50), ms(lr.load.LatencyMillis.P99), fmt.Sprint(lr.dup)})
		cats, live, plan = append(cats, lr.router), append(live, share), append(plan, 100*lr.plan[lr.router])
		r.Number(lr.router+"_moved_pct", "rows moved by the live reshard 3→4, "+lr.router, share, "%")
		r.Number(lr.router+"_plan_moved_pct", "rows shardctl plan said would move, "+lr.router, 100*lr.plan[lr.router], "%")
		r.Number(lr.router+"_reshard_errors", "failed requests during the reshard, "+lr.router, float64(lr.load.Errors), "")
		x, y := series(lr.load, func(s loadgen.Second) float64 { return s.LatencyMillis.P99 })
		p99s = append(p99s, chart.Series{Name: "p99, " + lr.router, X: x, Y: y})
		marks = append(marks, chart.Mark{X: lr.applyAt, Label: "reshard done, " + lr.router})
	}
	r.Table([]string{"router", "rows moved", "share", "plan", "reshard took", "writes paused", "requests", "errors", "p50", "p99", "rows on two shards after"}, rows)
	r.Para("The plan is `shardctl plan --to 4` just before the move: it reads every live id and maps it under the old and the new map, so it should agree with the rows found moved to within the rows written between the two (the load writes only existing ids). The theory for 3→4: modulo moves 3/4 of the keys (an id stays only where id mod 3 = id mod 4), consistent (jump) hashing 1/4 (only what the new shard takes). Requests in the load count as failed when they got no answer, a 4xx or a 5xx; during the cut-over writes wait (up to `SHARD_PAUSE_MAX`) instead of failing.")
	if err := r.Chart("moved.png", "Rows moved by resharding 3→4, live against the plan", &chart.Bars{Title: "Rows moved by 3→4 (%)", YLabel: "% of rows", Categories: cats,
		Groups: []chart.Group{{Name: "live rows", Values: live}, {Name: "shardctl plan", Values: plan}}}); err != nil {
		return err
	}
	return r.Chart("reshard-p99.png", "p99 latency per second during each live reshard (x: seconds since the load started; the reshard began at 5 s)", &chart.Lines{Title: "p99 per second, reshard 3→4 under load", XLabel: "seconds", YLabel: "ms", Series: p99s, Marks: marks, LogY: true})
}

func shardingVerdict(r *report.Report, lives []*liveReshard, users, load []chart.Group) {
	share := func(lr *liveReshard) float64 { return float64(lr.moved) / float64(max(lr.rows, 1)) }
	even := spread(users[0].Values) < 1.1 && spread(users[1].Values) < 1.1
	mod, con := share(lives[0]), share(lives[1])
	errs := lives[0].load.Errors + lives[1].load.Errors
	text := fmt.Sprintf("Users spread over the shards with busiest/least busy %.2f× (modulo) and %.2f× (consistent), the Zipf load %.2f× and %.2f×; resharding 3→4 live moved %.1f%% of the rows with modulo and %.1f%% with consistent hashing (the plan: %.1f%% and %.1f%%), with %d failed requests out of %d.",
		spread(users[0].Values), spread(users[1].Values), spread(load[0].Values), spread(load[1].Values),
		100*mod, 100*con, 100*lives[0].plan["modulo"], 100*lives[1].plan["consistent"], errs, lives[0].load.Requests+lives[1].load.Requests)
	switch {
	case even && mod > 0.70 && mod < 0.80 && con > 0.20 && con < 0.30 && errs == 0:
		r.Verdict = report.Held
	case even && mod > con:
		r.Verdict = report.Partly
	default:
		r.Verdict = report.NotHeld
	}
	r.VerdictText = text
}

func perShard(rep *loadgen.Report, shards []string) []float64 {
	out := make([]float64, len(shards))
	for i, s := range shards {
		out[i] = float64(rep.Headers["X-Shard"].Count(s))
	}
	return out
}

func spread(v []float64) float64 {
	lo, hi := slices.Min(v), slices.Max(v)
	if lo == 0 {
		return 0
	}
	return hi / lo
}

func fmtShares(v []float64) string {
	total := 0.0
	for _, x := range v {
		total += x
	}
	s := ""
	for i, x := range v {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%.0f (%.1f%%)", x, 100*x/max(total, 1))
	}
	return s
}
