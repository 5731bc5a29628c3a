# Kubernetes: deploy/k8s (kustomize base, kind overlay) and its strict check,
# a module of its own (deploy/k8s/check) that `make test` runs too.

GO_MODULES += ./deploy/k8s/check/...

.PHONY: k8s-check
k8s-check: ## render deploy/k8s with kustomize and check every object strictly against the API types and the services' code
	go test -count=1 ./deploy/k8s/check/...

.PHONY: k8s-kind
k8s-kind: images ## run the lab on a kind cluster named scalelab (needs kind, kubectl and a registry for postgres/redis/prometheus)
	kind get clusters | grep -qx scalelab || kind create cluster --name scalelab --config deploy/k8s/overlays/kind/kind-cluster.yaml
	@# The overlay runs the :dev images (SCALELAB_TAG=dev, the default).
	for s in lb api edge origin; do kind load docker-image --name scalelab scalelab/$$s:dev; done
	kubectl apply -k deploy/k8s/overlays/kind
	deploy/k8s/wait-ready.sh
