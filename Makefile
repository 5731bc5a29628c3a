# scalelab: `make up` brings the lab up, `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export COMPOSE_PROJECT_NAME ?= scalelab


# Compose v2 (`docker compose`) when present, else Debian's docker-compose 1.29.
# (:= with $(or): detected once per make run, not at every use.)
COMPOSE := $(or $(COMPOSE),$(shell if docker compose version >/dev/null 2>&1; then echo "docker compose"; \
                   elif command -v docker-compose >/dev/null 2>&1; then echo docker-compose; fi))
export COMPOSE

# IMAGES=official runs the official images (needs a registry); IMAGES=local
# builds stand-ins from Debian's packages (no registry needed). By default it
# is official when a registry answers, local otherwise.
IMAGES := $(or $(IMAGES),$(shell command -v docker >/dev/null 2>&1 && deploy/detect-images.sh))
export IMAGES
ifeq ($(IMAGES),local)
export POSTGRES_IMAGE ?= scalelab/postgres:dev
export REDIS_IMAGE ?= scalelab/redis:dev
export PROMETHEUS_IMAGE ?= scalelab/prometheus:dev
export GO_IMAGE ?= scalelab/go:1.26
endif

# testcontainers: its reaper image (Ryuk) cannot be pulled without a
# registry, and every test removes what it starts anyway. Containers are
# reached on localhost (testcontainers would otherwise guess the gateway
# when it believes it runs inside a container).
export TESTCONTAINERS_RYUK_DISABLED ?= true
export TESTCONTAINERS_HOST_OVERRIDE ?= localhost

# REDIS=cluster runs the cache on a Redis Cluster (3 primaries, 3 replicas)
# instead of one Redis: deploy/redis-cluster/docker-compose.yml on top.
ifeq ($(REDIS),cluster)
export COMPOSE_FILE := docker-compose.yml:deploy/redis-cluster/docker-compose.yml
endif

# GRAFANA=1 adds Grafana (a registry is needed for its image).
ifeq ($(GRAFANA),1)
COMPOSE_PROFILES_FLAG := --profile grafana
endif

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: check
check: ## check that Docker, Compose and Go are here
	@command -v docker >/dev/null 2>&1 || { echo "error: docker is not installed (README: 'Docker is missing')" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "error: the Docker engine does not answer: start it (systemctl start docker) or check your permissions" >&2; exit 1; }
	@[ -n "$(COMPOSE)" ] || { echo "error: neither 'docker compose' nor 'docker-compose' is installed" >&2; exit 1; }
	@command -v go >/dev/null 2>&1 || { echo "error: Go 1.26 is not installed (https://go.dev/dl/)" >&2; exit 1; }
	@[ "$(IMAGES)" = local ] || [ "$(IMAGES)" = official ] || { echo "error: IMAGES must be local or official, not '$(IMAGES)'" >&2; exit 1; }

.PHONY: deps
deps: ## install what an air-gapped image build needs (debootstrap; Debian/Ubuntu, as root)
	@if [ "$(IMAGES)" = local ] && ! command -v debootstrap >/dev/null 2>&1; then \
	  echo "installing debootstrap"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; \
	fi

.PHONY: images
images: check deps ## build every image (IMAGES=local: without a registry)
	@echo "images: $(IMAGES)"
	deploy/build-images.sh

.PHONY: up
up: images ## build what is missing, start the stack, wait until healthy
	@# .env carries this run's images, project and ports to plain compose commands.
	deploy/write-env.sh
	$(COMPOSE) $(COMPOSE_PROFILES_FLAG) up -d --no-build
	deploy/wait-healthy.sh
	@b=$${SCALELAB_BIND:-127.0.0.1}; \
	echo; echo "scalelab is up:"; \
	echo "  load balancer  http://$$b:$${LB_PORT:-8000}/            curl http://$$b:$${LB_PORT:-8000}/users/42"; \
	echo "  edge sydney    http://$$b:$${EDGE_SYDNEY_PORT:-8081}/logo.png   (200 ms from the origin)"; \
	echo "  edge newyork   http://$$b:$${EDGE_NEWYORK_PORT:-8082}/logo.png   (5 ms from the origin)"; \
	echo "  origin         http://$$b:$${ORIGIN_PORT:-8090}/"; \
	echo "  prometheus     http://$$b:$${PROMETHEUS_PORT:-9090}/graph"; \
	if [ "$(GRAFANA)" = 1 ]; then echo "  grafana        http://$$b:$${GRAFANA_PORT:-3000}/"; fi

.PHONY: down
down: ## stop the stack (data volumes are kept; `make clean` removes them)
	$(COMPOSE) --profile grafana down --remove-orphans

.PHONY: clean
clean: ## stop the stack and delete its volumes
	$(COMPOSE) --profile grafana down --volumes --remove-orphans

.PHONY: logs
logs: ## follow the logs of every service
	$(COMPOSE) logs -f --tail=50

.PHONY: ps
ps: ## show the containers and their health
	$(COMPOSE) ps

# Both print a summary (what ran, passed, failed, was skipped) and their
# duration; docs/tests.md says what each runs.
.PHONY: unit
unit: ## go vet, then the unit tests of every module with the race detector; no build tag, so no container (a few minutes)
	tests/run.sh unit

.PHONY: fuzz
fuzz: ## fuzz every Fuzz target, FUZZ_TIME each (10s) and FuzzParseRequest FUZZ_LONG_TIME (60s): about 6 min
	tests/fuzz.sh

.PHONY: test
test: images ## every test: `make unit`, then the `containers`-tagged ones (testcontainers, whole stack), one package at a time
	tests/run.sh all

.PHONY: test-tour
test-tour: images ## only TestTour (make test runs it too): walk the README's "Try it" commands on a test stack and hold each to what the README says (~3 min)
	flock /tmp/scalelab-stack.lock go test -count=1 -v -tags containers -timeout 20m -run TestTour ./tests/stack

.PHONY: test-redis-failover
test-redis-failover: ## only the Redis Cluster failover tests (make test runs them too): a primary killed under one cache client, then under the api's load (~2 min)
	cd services/api && POSTGRES_IMAGE=$(POSTGRES_IMAGE) REDIS_IMAGE=$(REDIS_IMAGE) TESTCONTAINERS_RYUK_DISABLED=true TESTCONTAINERS_HOST_OVERRIDE=localhost \
		go test -count=1 -v -p 1 -tags containers -timeout 15m -run 'TestClusterCacheFollowsAPromotedReplica|TestAPIClusterPrimaryKilledUnderLoad' ./internal/cache ./cmd/api

.PHONY: bench-api
bench-api: images ## measure the api against Redis and PostgreSQL directly: hit, miss, stampede, hit ratio (~1 min)
	go run ./loadtest/cmd/benchapi

.PHONY: bench-lb
bench-lb: ## measure the lb, L7 and L4, against nginx, HAProxy and a backend directly (~1 min; as root it installs nginx-light and haproxy)
	@if ! { command -v nginx || [ -x /usr/sbin/nginx ]; } >/dev/null 2>&1 || ! { command -v haproxy || [ -x /usr/sbin/haproxy ]; } >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing nginx-light and haproxy"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light haproxy >/dev/null; \
	  fi; \
	fi
	go run ./loadtest/cmd/benchlb $(BENCH_LB_FLAGS)

.PHONY: bench-edge
bench-edge: ## measure the edge's hit path against Varnish and nginx proxy_cache, and its store's hit ratio against LRU (~1 min; as root it installs varnish and nginx-light)
	@if ! { command -v varnishd || [ -x /usr/sbin/varnishd ]; } >/dev/null 2>&1 || ! { command -v nginx || [ -x /usr/sbin/nginx ]; } >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing varnish and nginx-light"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq varnish nginx-light >/dev/null; \
	  fi; \
	fi
	go run ./loadtest/cmd/benchedge $(BENCH_EDGE_FLAGS)
	go test -count=1 -v -run TestReportHitRatio ./services/edge/internal/store

# Each area of the lab keeps its own targets in mk/<area>.mk.
include $(sort $(wildcard mk/*.mk))
