# k6: the load scenarios of loadtest/k6 run by the official grafana/k6 image
# inside the stack's network (a registry is needed for the image; loadgen
# runs the same scenarios without one).

K6_IMAGE ?= grafana/k6:0.54.0
export K6_IMAGE
SCENARIO ?= read
# The edge scenario goes to an edge, the others to the lb.
K6_TARGET ?= $(if $(filter assets,$(SCENARIO)),http://edge-newyork:8080,http://lb:8000)
export K6_TARGET

.PHONY: k6
k6: ## run a k6 scenario against the running stack (SCENARIO=hello|read|mixed|write|assets; K6_RATE, K6_DURATION, K6_ZIPF)
	@[ -f loadtest/k6/$(SCENARIO).js ] || { echo "error: SCENARIO=$(SCENARIO): no loadtest/k6/$(SCENARIO).js (one of: $$(cd loadtest/k6 && ls *.js | sed 's/\.js$$//' | tr '\n' ' '))" >&2; exit 2; }
	@docker image inspect $(K6_IMAGE) >/dev/null 2>&1 || docker pull -q $(K6_IMAGE) >/dev/null 2>&1 || { \
	  echo "error: the $(K6_IMAGE) image is not here and cannot be pulled (no registry reachable); run the same scenario with loadgen: go run ./loadtest/cmd/loadgen -scenario $(SCENARIO) -target http://127.0.0.1:$(if $(filter assets,$(SCENARIO)),$${EDGE_NEWYORK_PORT:-8082},$${LB_PORT:-8000})" >&2; exit 1; }
	$(COMPOSE) --profile k6 run --rm --no-deps k6 run /scripts/$(SCENARIO).js
