package dashboards

// Overview is the whole lab at a glance: every service's rate, errors and
// latency, and which scrape targets answer.
func Overview() Dashboard {
	return Dashboard{
		UID: "scalelab-overview", File: "overview.json", Title: "scalelab: overview",
		About: "Every service at a glance. Drive some load (loadgen, see docs/dashboards.md) and watch each line rise together; " +
			"stop a container and watch its target go to 0 and its errors appear where its callers are.",
		Rows: []Row{{
			Title: "Every service",
			Panels: []Panel{
				panel("Requests per second by service", "reqps",
					"What each tier serves. The lb's line equals the api's sum; the edges answer far more than the origin, which is the CDN's point.",
					q(`sum by (job) (job_code:scalelab_http_requests:rate1m)`, "{{job}}")),
				panel("Error ratio (5xx) by service", "percentunit",
					"Share of answers that are server errors. 0 while the lab is healthy; a killed shard shows here on the api and the lb at once.",
					q(`job:scalelab_http_errors:ratio_rate1m`, "{{job}}")),
				panel("Targets up", "short",
					"1 for each target Prometheus scrapes. `docker compose --scale api=5` adds api lines; a stopped container drops to 0 within one scrape.",
					q(`up`, "{{job}} {{instance}}")),
				panel("Latency p50 by service", "s",
					"The typical request. The far edge's p50 is a hit (a millisecond) once its cache is warm.",
					q(`job:scalelab_http_request_duration_seconds:p50_rate1m`, "{{job}}")),
				panel("Latency p95 by service", "s",
					"One request in twenty is slower than this: cache misses and the far edge's round trips show here first.",
					q(`job:scalelab_http_request_duration_seconds:p95_rate1m`, "{{job}}")),
				panel("Latency p99 by service", "s",
					"The tail users complain about. A miss at the far edge costs its simulated 200 ms round trip, and it shows here.",
					q(`job:scalelab_http_request_duration_seconds:p99_rate1m`, "{{job}}")),
			},
		}, {
			Title: "Stateless replicas",
			Panels: []Panel{
				panel("api: requests per second per replica", "reqps",
					"The replicas share the load evenly: none keeps state, so any can answer any request. Scale up and a new line joins at the same height.",
					q(`sum by (instance) (rate(scalelab_api_http_requests_total[1m]))`, "{{instance}}")),
				panel("api: in-flight requests per replica", "short",
					"Requests being served right now. Equal lines mean the balancer spreads work, not just requests.",
					q(`sum by (instance) (scalelab_api_http_requests_in_flight)`, "{{instance}}")),
				panel("Cache and CDN hit ratios", "percentunit",
					"The two caches of the lab: Redis in front of the shards, and each edge in front of the origin. Both climb as they warm.",
					q(`job:scalelab_api_cache_hits:ratio_rate1m`, "api (Redis)"),
					q(`edge:scalelab_edge_cache_hits:ratio_rate1m`, "edge {{edge}}")),
			},
		}},
	}
}
