package reshard

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/jackc/pgx/v5"

	"scalelab/services/api/shardmap"
)

// Plan is what a reshard from From to To would move, measured on the live
// rows.
type Plan struct {
	From, To shardmap.Map
	Rows     []int64   // rows per old shard (those it answers for)
	Moves    [][]int64 // Moves[old][new]: rows that go from old shard to new shard
	Moved    int64
	// Fractions compares the routers, each with itself: the fraction of
	// the live rows that move when the router goes from len(From.DSNs)
	// to len(To.DSNs) shards, in shardmap.Routers order.
	Fractions []float64
}

// Plan reads every id of the tier and measures what would move.
func (e *Engine) Plan(ctx context.Context, from, to shardmap.Map) (Plan, error) {
	p := Plan{From: from, To: to, Rows: make([]int64, len(from.DSNs)), Moves: make([][]int64, len(from.DSNs))}
	cur, next := from.MustRouter(), to.MustRouter()
	var olds, news []shardmap.Router
	for _, name := range shardmap.Routers {
		a, err := shardmap.NewRouter(name, len(from.DSNs))
		if err != nil {
			return p, err
		}
		b, err := shardmap.NewRouter(name, len(to.DSNs))
		if err != nil {
			return p, err
		}
		olds, news = append(olds, a), append(news, b)
	}
	counts := make([]int64, len(olds))
	var total int64
	for i, dsn := range from.DSNs {
		p.Moves[i] = make([]int64, len(to.DSNs))
		err := e.eachID(ctx, dsn, func(id int64) {
			key := shardmap.Key(id)
			if cur.Shard(key) != i {
				return // a copy this shard does not answer for
			}
			p.Rows[i]++
			total++
			if t := next.Shard(key); to.DSNs[t] != dsn {
				p.Moves[i][t]++
				p.Moved++
			}
			for r := range olds {
				if olds[r].Shard(key) != news[r].Shard(key) {
					counts[r]++
				}
			}
		})
		if err != nil {
			return p, fmt.Errorf("shard %d: %v", i, err)
		}
	}
	for _, c := range counts {
		f := 0.0
		if total > 0 {
			f = float64(c) / float64(total)
		}
		p.Fractions = append(p.Fractions, f)
	}
	return p, nil
}

// eachID calls fn with every id of one shard, in id order, reading in
// batches so that no statement runs long.
func (e *Engine) eachID(ctx context.Context, dsn string, fn func(int64)) error {
	pool, err := e.pool(dsn)
	if err != nil {
		return err
	}
	after := int64(-1 << 63)
	for {
		rows, _ := pool.Query(ctx, `SELECT id FROM users WHERE id > $1 ORDER BY id LIMIT 50000`, after)
		n := 0
		var id int64
		_, err := pgx.ForEachRow(rows, []any{&id}, func() error {
			fn(id)
			after = id
			n++
			return nil
		})
		if err != nil || n < 50000 {
			return err
		}
	}
}

// Write prints the plan; its last lines, one per router, read
// "router=<name> moved=<fraction>" for scripts.
func (p Plan) Write(w io.Writer) {
	var total int64
	for _, r := range p.Rows {
		total += r
	}
	fmt.Fprintf(w, "from: %s\n", Describe(p.From))
	fmt.Fprintf(w, "to:   %s\n", Describe(p.To))
	fmt.Fprintf(w, "rows: %d; moving with %s: %d (%.4f)\n\n", total, p.To.Router, p.Moved, frac(p.Moved, total))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "old shard\trows\t")
	for t := range p.To.DSNs {
		fmt.Fprintf(tw, "→ %d\t", t)
	}
	fmt.Fprintln(tw)
	for i, row := range p.Moves {
		fmt.Fprintf(tw, "%d\t%d\t", i, p.Rows[i])
		for _, n := range row {
			fmt.Fprintf(tw, "%d\t", n)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintf(w, "\neach router from %d to %d shards, over the live rows:\n", len(p.From.DSNs), len(p.To.DSNs))
	for i, name := range shardmap.Routers {
		fmt.Fprintf(w, "router=%s moved=%.4f\n", name, p.Fractions[i])
	}
}

func frac(n, total int64) float64 {
	if total == 0 {
		return 0
	}
	return float64(n) / float64(total)
}

// Rows counts the rows each shard of m holds.
func (e *Engine) Rows(ctx context.Context, m shardmap.Map) ([]int64, error) {
	out := make([]int64, len(m.DSNs))
	for i, d := range m.DSNs {
		p, err := e.pool(d)
		if err == nil {
			err = p.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&out[i])
		}
		if err != nil {
			return out[:i], fmt.Errorf("shard %d: %v", i, err)
		}
	}
	return out, nil
}
