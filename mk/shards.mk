# The users tier's shards: online resharding with shardctl (docs/sharding.md).
# shardctl runs in the api image on the stack's network (compose profile tools).

# shardctl is its own module: `make test` vets and tests it with the others.
GO_MODULES += ./services/shardctl/...

SHARDCTL := $(COMPOSE) --profile tools run --rm --no-deps shardctl

.PHONY: shardctl reshard-status reshard-plan reshard
shardctl: ## run shardctl against the running stack: make shardctl ARGS="status" (or "apply --to 4 --dry-run", ...)
	$(SHARDCTL) $(ARGS)

reshard-status: ## the shard map, rows per shard, the reshard in progress, each api replica's map version
	$(SHARDCTL) status

reshard-plan: ## what resharding the users to TO shards would move, per shard and per router (TO=4 [ROUTER=consistent])
	@test -n "$(TO)" || { echo "usage: make reshard-plan TO=4 [ROUTER=consistent]"; exit 2; }
	$(SHARDCTL) plan --to $(TO) $(if $(ROUTER),--router $(ROUTER))

reshard: ## reshard the users to TO shards online, under traffic; run again to resume (TO=4 [ROUTER=...] [DRY_RUN=1] [LEASE=3s])
	@test -n "$(TO)" || { echo "usage: make reshard TO=4 [ROUTER=consistent] [DRY_RUN=1] [LEASE=3s]"; exit 2; }
	$(SHARDCTL) apply --to $(TO) $(if $(ROUTER),--router $(ROUTER)) $(if $(DRY_RUN),--dry-run) $(if $(LEASE),--lease $(LEASE))
