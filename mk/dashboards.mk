# Dashboards, rules and the offline view (docs/dashboards.md).

GRAFANA_IMAGE ?= grafana/grafana:11.3.0
export GRAFANA_IMAGE
DASHBOARDS_RANGE ?= 15m
DASHBOARDS_PNG_DIR ?= dashboards-png

.PHONY: dashboards
dashboards: ## write deploy/grafana/dashboards/*.json (and the offline view's list) from tests/dashboards
	go run ./tests/dashboards/cmd/dashgen

.PHONY: rules-test
rules-test: ## check the Prometheus config and run the rule tests (promtool test rules, in the Prometheus image)
	go test -count=1 -tags containers -run 'Promtool|EveryMetricNamed' ./tests/dashboards

.PHONY: dashboards-png
dashboards-png: chromium ## render every panel of the running stack's dashboards to PNG (DASHBOARDS_RANGE=15m, into DASHBOARDS_PNG_DIR=dashboards-png)
	go run ./tests/dashboards/cmd/dashpng -prometheus http://$${SCALELAB_BIND:-127.0.0.1}:$${PROMETHEUS_PORT:-9090} \
	  -range $(DASHBOARDS_RANGE) -out $(DASHBOARDS_PNG_DIR)

# The whole-stack test opens the offline view in headless Chromium.
test: chromium

.PHONY: chromium
chromium: ## install Debian's chromium unless a Chromium or Chrome is here (headless, for the dashboards test and dashboards-png; as root)
	@if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 && ! command -v google-chrome >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (headless browser for the dashboards)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; \
	  else \
	    echo "error: chromium is missing: install it (Debian: sudo apt-get install chromium)" >&2; exit 1; \
	  fi; \
	fi

# GRAFANA=1 needs Grafana's official image: say so at once, before any
# build, when it is neither here nor pullable.
ifeq ($(GRAFANA),1)
images: grafana-image
endif

.PHONY: grafana-image
grafana-image:
	@docker image inspect $(GRAFANA_IMAGE) >/dev/null 2>&1 || timeout 300 docker pull -q $(GRAFANA_IMAGE) >/dev/null 2>&1 || { \
	  echo "error: GRAFANA=1 needs the image $(GRAFANA_IMAGE), which is not on this machine and cannot be pulled (no registry answers)." >&2; \
	  echo "       Start without GRAFANA=1 and watch the same dashboards offline at http://$${SCALELAB_BIND:-127.0.0.1}:$${PROMETHEUS_PORT:-9090}/user/view/" >&2; \
	  exit 1; }
