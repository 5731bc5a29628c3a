package dashboards

// LoadBalancer is the chapter on L4 and L7 balancing: the round robin,
// health checks, ejections and retries, and what the lb itself costs.
func LoadBalancer() Dashboard {
	return Dashboard{
		UID: "scalelab-lb", File: "lb.json", Title: "scalelab: load balancer",
		About: "The lb (L7 on :8000, L4 on :8001) in front of the api replicas. Stop a replica " +
			"(`docker stop` one api container) and watch it leave the rotation, its share move to the others, and retries hide the failure.",
		Rows: []Row{{
			Title: "Round robin",
			Panels: []Panel{
				panel("Requests per backend", "reqps",
					"Round robin gives every backend the same share: the lines lie on top of each other. A new replica joins at the same height within a DNS refresh.",
					q(`backend:scalelab_lb_backend_requests:rate1m`, "{{backend}}")),
				panel("Backend latency p99", "s",
					"Time for one try at each backend, to the end of its body. A slow replica stands out here before it fails.",
					q(`histogram_quantile(0.99, sum by (le, backend) (rate(scalelab_lb_backend_request_duration_seconds_bucket[1m])))`, "{{backend}}")),
				panel("In flight per backend", "short",
					"Requests forwarded and not yet answered. Least-request balancing keeps these equal even when one backend is slower.",
					q(`sum by (backend) (scalelab_lb_backend_requests_in_flight)`, "{{backend}}")),
			},
		}, {
			Title: "Health",
			Panels: []Panel{
				panel("Backends by state", "short",
					"How many backends are available, pending (new, first active check not passed yet), unhealthy (failing active checks), ejected (after failed requests) or drained. A stopped replica moves from available to unhealthy or is dropped by DNS; a new one is pending for one check.",
					q(`scalelab_lb_backends`, "{{state}}")),
				panel("Health checks per second", "ops",
					"Active checks by result. Fails appear for a backend about to be marked unhealthy.",
					q(`sum by (backend, result) (rate(scalelab_lb_backend_health_checks_total[1m]))`, "{{backend}} {{result}}")),
				panel("Ejections", "short",
					"Backends ejected by passive checks (failed requests) in the last 5 minutes: 0 while all is well.",
					q(`sum by (backend) (increase(scalelab_lb_backend_ejections_total[5m])) or vector(0)`, "{{backend}}")),
			},
		}, {
			Title: "Retries and cost",
			Panels: []Panel{
				panel("Retries and the retry budget", "ops",
					"Tries that failed and were retried on another backend, and retries refused because the budget was spent. Retries make a dying replica invisible to users; the budget stops them from doubling the load in an outage.",
					q(`sum(rate(scalelab_lb_backend_retries_total[1m])) or vector(0)`, "retried"),
					q(`sum(rate(scalelab_lb_retry_budget_exhausted_total[1m]))`, "budget exhausted"),
					q(`sum(rate(scalelab_lb_concurrency_limited_total[1m]))`, "refused: all backends full")),
				panel("Proxy overhead p50 / p99", "s",
					"Time a request spends in the lb outside any backend: picking, rewriting, copying headers. Tens of microseconds: a balancer is cheap.",
					q(`histogram_quantile(0.5, sum by (le) (rate(scalelab_lb_proxy_overhead_seconds_bucket[1m])))`, "p50"),
					q(`histogram_quantile(0.99, sum by (le) (rate(scalelab_lb_proxy_overhead_seconds_bucket[1m])))`, "p99")),
				panel("Error ratio at the lb (5xx)", "percentunit",
					"What users see. It stays at 0 when a replica dies, thanks to health checks and retries; it rises only when no backend is left.",
					q(`job:scalelab_http_errors:ratio_rate1m{job="lb"}`, "lb")),
			},
		}, {
			Title: "L4 against L7",
			Panels: []Panel{
				panel("L7 requests and L4 connections per second", "ops",
					"L7 balances each request; L4 balances each TCP connection and never reads HTTP. With keep-alive one L4 connection carries many requests to one backend.",
					q(`sum(rate(scalelab_lb_http_requests_total[1m]))`, "L7 requests"),
					q(`sum(rate(scalelab_lb_l4_connections_total[1m]))`, "L4 connections")),
				panel("L4 connections per backend", "short",
					"Connections the L4 port has open to each backend, and new ones per second: spread per connection, not per request.",
					q(`sum by (backend) (scalelab_lb_l4_active_connections)`, "open {{backend}}"),
					q(`sum by (backend) (rate(scalelab_lb_l4_connections_total[1m]))`, "new/s {{backend}}")),
				panel("L4 bytes per second", "Bps",
					"Bytes copied through the L4 port, per backend and direction: the L4 balancer only moves bytes.",
					q(`sum by (backend, direction) (rate(scalelab_lb_l4_bytes_total[1m]))`, "{{backend}} {{direction}}")),
			},
		}},
	}
}
