package dashboards

// CDN is the chapter on edges: a far edge (sydney, 200 ms from the origin)
// and a near one (newyork, 5 ms), both fetching through a regional shield.
func CDN() Dashboard {
	return Dashboard{
		UID: "scalelab-cdn", File: "cdn.json", Title: "scalelab: CDN (edges, shield, origin)",
		About: "Fetch the same assets from both edges (:8081 sydney, :8082 newyork). The first fetch of an object is a miss " +
			"that pays the round trip; every later one is a hit from the edge's store, and the origin hardly sees any traffic.",
		Rows: []Row{{
			Title: "Hits",
			Panels: []Panel{
				panel("Hit ratio per edge", "percentunit",
					"Answers from the edge's own store (fresh, or stale by permission) over all answers. Near 1 once the popular objects are cached; the shield's line is the edges' misses it absorbs.",
					q(`edge:scalelab_edge_cache_hits:ratio_rate1m`, "{{edge}}")),
				panel("Answers per edge by result", "ops",
					"hit, miss, stale, revalidated and bypass. After each object's first miss, hits take over.",
					q(`sum by (edge, result) (rate(scalelab_edge_cache_requests_total[1m]))`, "{{edge}} {{result}}")),
				panel("Latency p50 per edge", "s",
					"The far edge answers a hit in about a millisecond, like the near one: the distance is paid on misses only.",
					q(`histogram_quantile(0.5, sum by (le, edge) (rate(scalelab_edge_http_request_duration_seconds_bucket[1m])))`, "{{edge}}")),
			},
		}, {
			Title: "What reaches the origin",
			Panels: []Panel{
				panel("Bytes from cache against bytes from origin", "Bps",
					"Bytes each edge served from its store and bytes it had to fetch. The cache line dwarfs the origin line: that is the bandwidth a CDN saves.",
					q(`sum by (edge, source) (rate(scalelab_edge_served_bytes_total[1m]))`, "{{edge}} from {{source}}")),
				panel("Origin fetch latency p50 per edge", "s",
					"Time to the parent's response headers, the simulated round trip included: about 200 ms from sydney, 5 ms from newyork and the shield.",
					q(`histogram_quantile(0.5, sum by (le, edge) (rate(scalelab_edge_origin_fetch_duration_seconds_bucket[5m])))`, "{{edge}}")),
				panel("Shield offload", "reqps",
					"Requests the edges send to the shield, against requests that reach the origin. The gap is the shield's offload: many edges missing one object cost the origin one fetch.",
					q(`sum(rate(scalelab_edge_http_requests_total{edge="shield"}[1m]))`, "to the shield"),
					q(`sum(rate(scalelab_origin_http_requests_total[1m]))`, "to the origin")),
			},
		}, {
			Title: "Freshness and the store",
			Panels: []Panel{
				panel("Stale answers by reason", "ops",
					"Stale objects served on purpose: while revalidating in the background, because the origin failed (stale-if-error), or allowed by the client (max-stale). Flip the origin's failure switch to see if_error.",
					q(`sum by (edge, reason) (rate(scalelab_edge_stale_answers_total[5m])) or vector(0)`, "{{edge}} {{reason}}")),
				panel("Revalidations and collapsed requests", "ops",
					"Conditional requests to the parent (not_modified costs no body), and requests that waited for another's fetch of the same object instead of fetching again.",
					q(`sum by (edge, result) (rate(scalelab_edge_revalidations_total[5m])) or vector(0)`, "{{edge}} revalidation {{result}}"),
					q(`sum by (edge) (rate(scalelab_edge_collapsed_requests_total[1m]))`, "{{edge}} collapsed")),
				panel("Store size and evictions", "bytes",
					"Bytes stored per edge against its capacity. Evictions start only when the store is full.",
					q(`sum by (edge) (scalelab_edge_cache_stored_bytes)`, "{{edge}} stored"),
					q(`sum by (edge) (scalelab_edge_cache_capacity_bytes)`, "{{edge}} capacity")),
				panel("Evictions per second", "ops",
					"Objects evicted to make room: 0 until a store fills.",
					q(`sum by (edge) (rate(scalelab_edge_cache_evictions_total[1m]))`, "{{edge}}")),
			},
		}},
	}
}
