package dashboards

// Cache is the chapter on cache-aside in front of the shards: the hit ratio
// as Redis warms, what a miss costs, and how a stampede and a dead Redis are
// absorbed.
func Cache() Dashboard {
	return Dashboard{
		UID: "scalelab-cache", File: "cache.json", Title: "scalelab: cache (api + Redis)",
		About: "Cache-aside between the api and the user shards. Hammer a few users through :8000 and watch the hit ratio climb; " +
			"stop Redis and watch the breaker open: latency rises, errors do not.",
		Rows: []Row{{
			Title: "Hits and misses",
			Panels: []Panel{
				panel("Hit ratio", "percentunit",
					"Reads answered by Redis (a user, or a remembered \"no such user\") over all reads. It climbs from 0 as the cache warms and stays high under a skewed (zipf) load.",
					q(`job:scalelab_api_cache_hits:ratio_rate1m`, "hit ratio")),
				panel("Reads by result", "ops",
					"Every cache read: hit, miss, negative_hit (a cached 404), bypass, untrusted (a shard whose cache trust ran out) and error. Misses fall as hits rise.",
					q(`sum by (result) (rate(scalelab_api_cache_requests_total{op=~"get|mget"}[1m]))`, "{{result}}")),
				panel("Answer latency beside a shard read", "s",
					"GET /users/{id} at the api (p50 and p99), beside one PostgreSQL read (p50). A hit skips the shard read, so as the hit ratio climbs the api's p50 falls below the shard's.",
					q(`histogram_quantile(0.5, sum by (le) (rate(scalelab_api_http_request_duration_seconds_bucket{route="GET /users/{id}"}[1m])))`, "answer p50"),
					q(`histogram_quantile(0.99, sum by (le) (rate(scalelab_api_http_request_duration_seconds_bucket{route="GET /users/{id}"}[1m])))`, "answer p99"),
					q(`histogram_quantile(0.5, sum by (le) (rate(scalelab_api_db_query_duration_seconds_bucket{op="get"}[1m])))`, "shard read p50")),
			},
		}, {
			Title: "Stampedes and writes",
			Panels: []Panel{
				panel("Lease waits and shared loads", "ops",
					"During a stampede on a cold key, one reader takes the lease and loads the shard; the others wait for its value (filled) or share its load on the same replica. One database read, many answers.",
					q(`sum by (outcome) (rate(scalelab_api_cache_lease_waits_total[1m])) or vector(0)`, "lease wait {{outcome}}"),
					q(`sum(rate(scalelab_api_singleflight_shared_total[1m]))`, "shared load")),
				panel("Negative hits", "ops",
					"Reads of users that do not exist, answered from the cache: without them, a scan of missing ids would hit the shards every time.",
					q(`sum(rate(scalelab_api_cache_requests_total{result="negative_hit"}[1m])) or vector(0)`, "negative hits")),
				panel("Fills, writes and invalidations", "ops",
					"Values put in the cache after a miss (fill), by a write-through (set), and keys deleted on a write (invalidate), by result.",
					q(`sum by (op, result) (rate(scalelab_api_cache_requests_total{op=~"fill|set|invalidate"}[1m]))`, "{{op}} {{result}}")),
			},
		}, {
			Title: "When Redis fails",
			Panels: []Panel{
				panel("Redis errors", "ops",
					"Cache operations that failed. Each one fell back to the shard, so users saw latency, not errors.",
					q(`sum by (op) (rate(scalelab_api_cache_requests_total{result="error"}[1m])) or vector(0)`, "{{op}}")),
				panel("Circuit breaker open", "short",
					"1 while a replica skips Redis altogether after repeated failures: a dead cache then costs no timeouts at all.",
					q(`max by (instance) (scalelab_api_cache_breaker_open)`, "{{instance}}")),
				panel("Cache trusted per shard", "short",
					"1 while the api trusts the cached values of a shard. A write whose invalidation failed turns it to 0 until the trust period runs out, so no stale value is served.",
					q(`min by (shard) (scalelab_api_cache_trusted)`, "shard {{shard}}")),
			},
		}},
	}
}
