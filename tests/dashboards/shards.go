package dashboards

// Shards is the chapter on horizontal sharding (the users) and vertical
// partitioning (the orders on their own server).
func Shards() Dashboard {
	return Dashboard{
		UID: "scalelab-shards", File: "shards.json", Title: "scalelab: shards",
		About: "Users are spread over pg-users-0..2 by the shard router (SHARD_ROUTER=modulo or consistent); orders live on pg-orders. " +
			"Read many different users and watch the shards share the queries; stop one shard and watch only its third fail.",
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
