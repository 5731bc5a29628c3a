package shardmap

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

type followMetrics struct {
	version  prometheus.Gauge
	lag      prometheus.Gauge
	notified prometheus.Counter
	prepared prometheus.Gauge
	// The reshard in progress, as the catalog records it.
	phase    *prometheus.GaugeVec
	copied   prometheus.Gauge
	moving   prometheus.Gauge
	left     prometheus.Gauge
	verified prometheus.Gauge
	pause    prometheus.Gauge
	updated  prometheus.Gauge
	frozen   prometheus.Gauge
	leaseFor prometheus.Gauge
	released prometheus.Counter
}

func newFollowMetrics(reg prometheus.Registerer) followMetrics {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	m := followMetrics{
		version:  g("scalelab_api_shard_map_version", "Version of the shard map this replica routes by."),
		lag:      g("scalelab_api_shard_map_follow_seconds", "Time from the publication of the current map to this replica applying it."),
		notified: prometheus.NewCounter(prometheus.CounterOpts{Name: "scalelab_api_shard_map_notifications_total", Help: "New-map notifications received (LISTEN/NOTIFY)."}),
		prepared: g("scalelab_api_shard_map_prepared_version",
			"Target map version of the reshard under way whose new shards this replica has dialled ahead of the flip (0: none yet)."),
		phase: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scalelab_reshard_phase", Help: "1 for the phase the latest reshard is in (copy, catchup, cutover, flipped, cleanup, done).",
		}, []string{"phase"}),
		copied:   g("scalelab_reshard_rows_copied", "Rows the reshard's copy has read from the old shards (rate() is the copy rate)."),
		moving:   g("scalelab_reshard_rows_moving", "Of the rows read, those that move to another shard."),
		left:     g("scalelab_reshard_rows_remaining", "Rows on the old shards the copy has still to read."),
		verified: g("scalelab_reshard_verified", "Verification of the moved ranges: 1 equal, 0 not yet, -1 differed (then caught up and verified again)."),
		pause:    g("scalelab_reshard_write_pause_seconds", "How long the latest cut-over paused writes."),
		updated:  g("scalelab_reshard_updated_timestamp_seconds", "When the reshard last recorded progress (a phase or a copy batch), Unix time: time() minus it is how long it has been still."),
		frozen:   g("scalelab_reshard_writes_frozen", "1 while the cut-over's write freeze is held (writes to the users tier wait), else 0."),
		leaseFor: g("scalelab_reshard_freeze_lease_seconds", "Time left on the write freeze's lease; negative once it has expired and no replica has released it yet; 0 with no freeze."),
		released: prometheus.NewCounter(prometheus.CounterOpts{Name: "scalelab_reshard_freeze_releases_total",
			Help: "Expired write freezes this replica released (the reshard that held them stopped renewing their lease)."}),
	}
	// Every phase shows (at 0) before the first reshard: a dashboard's
	// query has data, and the first reshard's first phase is a change.
	for _, p := range Phases {
		m.phase.WithLabelValues(p)
	}
	reg.MustRegister(m.version, m.lag, m.notified, m.prepared, m.phase, m.copied, m.moving, m.left, m.verified, m.pause,
		m.updated, m.frozen, m.leaseFor, m.released)
	return m
}

// observeState copies the catalog's reshard state into the gauges and
// returns it (ok false when there is none or the catalog did not answer).
func (m followMetrics) observeState(ctx context.Context, pool *pgxpool.Pool) (State, bool) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	s, err := LoadState(ctx, pool)
	if err != nil {
		return s, false
	}
	for _, p := range Phases {
		v := 0.0
		if p == s.Phase {
			v = 1
		}
		m.phase.WithLabelValues(p).Set(v)
	}
	m.copied.Set(float64(s.RowsCopied))
	m.moving.Set(float64(s.RowsMoving))
	m.left.Set(float64(max(s.RowsTotal-s.RowsCopied, 0)))
	switch s.Verified {
	case "":
		m.verified.Set(0)
	case "ok":
		m.verified.Set(1)
	default:
		m.verified.Set(-1)
	}
	m.pause.Set(s.Pause.Seconds())
	m.updated.Set(float64(s.Updated.UnixNano()) / 1e9)
	frozen := 0.0
	if s.Frozen {
		frozen = 1
	}
	m.frozen.Set(frozen)
	m.leaseFor.Set(s.FreezeLeft.Seconds())
	return s, true
}
