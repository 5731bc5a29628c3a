# The edge's HTTP caching conformance: http-tests/cache-tests (the suite
# behind cache-tests.fyi) against a freshly built edge on loopback.

# The suite and its runner: on this project's machines beside the checkout
# (or at /work/shared, where a clean clone elsewhere finds it).
CACHE_TESTS ?= $(firstword $(wildcard ../shared/cache-tests ../../shared/cache-tests /work/shared/cache-tests) ../shared/cache-tests)
# Floors (required and optimal tests passed): raised as the score rises.
CONFORMANCE_REQUIRED ?= 150
CONFORMANCE_OPTIMAL ?= 90
# Whole-suite runs, each against a new edge: CONFORMANCE_RUNS=5 for a streak.
CONFORMANCE_RUNS ?= 1
export CONFORMANCE_REQUIRED CONFORMANCE_OPTIMAL

.PHONY: conformance
conformance: ## run the HTTP caching conformance suite against a freshly built edge, print the score, fail below the floor (~1.5 min a run; as root it installs nodejs)
	@if ! command -v node >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing nodejs"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs >/dev/null; \
	fi
	services/edge/conformance/run.sh $(CACHE_TESTS) $(CONFORMANCE_RUNS)
