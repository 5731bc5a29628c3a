package dashboards

// Shards is the chapter on horizontal sharding (the users) and vertical
// partitioning (the orders on their own server).
func Shards() Dashboard {
	return Dashboard{
		UID: "scalelab-shards", File: "shards.json", Title: "scalelab: shards",
		About: "Users are spread over pg-users-0..2 by the shard router (SHARD_ROUTER=modulo or consistent); orders live on pg-orders. " +
			"Read many different users and watch the shards share the queries; stop one shard and watch only its third fail. " +
			"Reshard to 4 under load (make reshard TO=4) and watch rows reach pg-users-3 and every replica follow the new map.",
		Rows: []Row{{
			Title: "Users, sharded",
			Panels: []Panel{
				panel("Queries per shard", "ops",
					"Reads and writes reaching each shard. With a key spread over all users, the lines are about equal: that is what sharding buys.",
					q(`shard:scalelab_api_db_queries:rate1m`, "shard {{shard}}")),
				panel("Query latency p99 per shard", "s",
					"Each shard is its own PostgreSQL: a slow one shows alone, and only its users feel it.",
					q(`shard:scalelab_api_db_query_duration_seconds:p99_rate1m`, "shard {{shard}}")),
				panel("Failed queries per shard", "percentunit",
					"Share of queries that fail. Stop one shard: its line jumps, the others stay at 0, and the api answers its users with a fast 503.",
					q(`shard:scalelab_api_db_query_errors:ratio_rate1m`, "shard {{shard}}")),
				panel("Queries per shard by operation", "ops",
					"get, put, delete and the cache-invalidation outbox, per shard.",
					q(`sum by (shard, op) (rate(scalelab_api_db_queries_total[1m]))`, "{{shard}} {{op}}")),
				panel("Connection pools per shard", "short",
					"Connections each api replica holds to each shard, by state, against the pool's maximum.",
					q(`sum by (shard, state) (scalelab_api_db_pool_connections)`, "{{shard}} {{state}}"),
					q(`sum by (shard) (scalelab_api_db_pool_max_connections)`, "{{shard}} max")),
				panel("Pool waits per shard", "ops",
					"Queries that waited for a free connection: a shard's pool too small for its load.",
					q(`sum by (shard) (rate(scalelab_api_db_pool_acquire_waits_total[1m]))`, "shard {{shard}}")),
			},
		}, {
			Title: "Resharding (make reshard TO=4, docs/sharding.md)",
			Panels: []Panel{
				panel("Rows per shard", "short",
					"Users rows on each shard server (PostgreSQL's live-row statistics). Grow 3→4 with the consistent router and pg-users-3 climbs to about a quarter while the copy runs; "+
						"the old shards keep their copies until the cleanup, then drop by what moved. Modulo would move about three quarters.",
					q(`max by (server) (scalelab_reshard_shard_rows)`, "{{server}}")),
				panel("Reshard phase", "short",
					"1 for the phase the latest reshard is in: copy and catchup under full traffic, cutover with writes paused (a second or so), flipped, cleanup, done. "+
						"A phase that stays at 1 for minutes is a stuck reshard (the ReshardStuck alert).",
					q(`max by (phase) (scalelab_reshard_phase)`, "{{phase}}")),
				panel("Rows copied and remaining", "short",
					"The copy reads every old shard in id order: copied climbs to the tier's row count while remaining falls to 0; moving is the part that changes shard.",
					q(`max(scalelab_reshard_rows_copied)`, "copied"),
					q(`max(scalelab_reshard_rows_remaining)`, "remaining"),
					q(`max(scalelab_reshard_rows_moving)`, "moving")),
				panel("Copy rate (rows/s)", "short",
					"Rows the copy reads per second: flat while it runs, 0 otherwise. The api's latency panels show what it costs the users meanwhile.",
					q(`max(rate(scalelab_reshard_rows_copied[1m]))`, "rows/s")),
				panel("Verification", "short",
					"Before the flip every moved range is counted and checksummed on both sides: 1 equal, 0 not yet, -1 differed (the run then catches up and verifies again).",
					q(`max(scalelab_reshard_verified)`, "verified")),
				panel("Writes paused", "short",
					"1 while the cut-over holds writes (reads go on; writers wait, they do not fail). A short blip per reshard; held longer than its lease, "+
						"an api replica releases it (a killed shardctl) and ReshardStuck fires if none can.",
					q(`max(scalelab_reshard_writes_frozen)`, "paused")),
				panel("Write pause and its lease", "s",
					"How long the latest cut-over paused writes, and the time left on the pause's lease while one is held (negative: expired, about to be released).",
					q(`max(scalelab_reshard_write_pause_seconds)`, "latest pause"),
					q(`max(scalelab_reshard_freeze_lease_seconds)`, "lease left")),
				panel("Map version per replica", "short",
					"The shard map each api replica routes by: all lines step up together within a poll of the flip (LISTEN/NOTIFY, a 1 s poll as backstop).",
					q(`scalelab_api_shard_map_version`, "{{instance}}")),
				panel("Map follow time per replica", "s",
					"From the map's publication to each replica applying it: milliseconds with NOTIFY, up to the poll interval without.",
					q(`scalelab_api_shard_map_follow_seconds`, "{{instance}}")),
			},
		}, {
			Title: "Orders, partitioned vertically",
			Panels: []Panel{
				panel("Orders queries per second", "ops",
					"The orders table lives on its own server: its load never competes with the users' shards.",
					q(`sum by (op, outcome) (rate(scalelab_api_orders_queries_total[1m]))`, "{{op}} {{outcome}}")),
				panel("Orders query latency p99", "s",
					"Latency of the orders server, by operation.",
					q(`histogram_quantile(0.99, sum by (le, op) (rate(scalelab_api_orders_query_duration_seconds_bucket[1m])))`, "{{op}}")),
			},
		}},
	}
}
