# Docker Swarm: the same images as a swarm stack (deploy/swarm/stack.yml).

.PHONY: swarm-up
swarm-up: images ## deploy the lab as a swarm stack (initialises a single-node swarm if none), wait for every replica, print the URLs
	deploy/swarm/up.sh
	@echo; echo "scalelab runs on swarm as stack $${SWARM_STACK:-scalelab} (ports on every interface of the node):"; \
	echo "  load balancer  http://127.0.0.1:$${LB_PORT:-8000}/            curl http://127.0.0.1:$${LB_PORT:-8000}/users/42"; \
	echo "  edge sydney    http://127.0.0.1:$${EDGE_SYDNEY_PORT:-8081}/logo.png"; \
	echo "  edge newyork   http://127.0.0.1:$${EDGE_NEWYORK_PORT:-8082}/logo.png"; \
	echo "  origin         http://127.0.0.1:$${ORIGIN_PORT:-8090}/"; \
	echo "  prometheus     http://127.0.0.1:$${PROMETHEUS_PORT:-9090}/graph"; \
	echo "  docker stack services $${SWARM_STACK:-scalelab}; make swarm-down removes it"

.PHONY: swarm-down
swarm-down: ## remove the swarm stack and its volumes; leave the swarm if swarm-up made it
	deploy/swarm/down.sh

.PHONY: test-swarm
test-swarm: images ## just the swarm test of make test: deploy the stack on this engine's swarm, a rolling update under load included (~2 min)
	flock /tmp/scalelab-stack.lock go test -count=1 -v -tags containers -timeout 30m ./tests/swarm/
