package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"scalelab/services/api/internal/store"
	"scalelab/services/api/shardmap"
	"scalelab/services/platform"
)

// followShardMap, when SHARD_MAP_DSN names a catalog, makes the store route
// by the catalog's shard map and follow it (SHARD_DSNS and SHARD_ROUTER then
// only seed the catalog's first version). It returns what prepare calls
// before the replica may be ready: load the map (once), then follow it in
// the background. Every new map renews the cache trust at once, under the
// new map's trust keys, so that reads go back to Redis without waiting for
// the next tick. Without a catalog the map is the configuration, version 0.
func followShardMap(ctx context.Context, svc *platform.Service, cfg config, st *store.Store, renewTrust func(context.Context)) (func(context.Context) error, func(), error) {
	svc.HandleAdmin("GET /shardmap", shardMapHandler(st))
	if cfg.shardMapDSN == "" {
		return func(context.Context) error { return nil }, func() {}, nil
	}
	pool, err := store.NewPool(cfg.shardMapDSN, store.Options{MaxConns: 3, QueryTimeout: cfg.dbTimeout})
	if err != nil {
		return nil, nil, fmt.Errorf("invalid configuration: SHARD_MAP_DSN: %v", err)
	}
	seed := shardmap.Map{Router: cfg.routerName, DSNs: cfg.shardDSNs}
	f := shardmap.NewFollower(pool, cfg.shardMapPoll, func(m shardmap.Map) error {
		if err := st.SetMap(m); err != nil {
			return err
		}
		go renewTrust(ctx)
		return nil
	}, svc.Logger, svc.Registry)
	st.SetRefresher(f.Refresh)
	// A reshard under way: dial the new shards now, not at the flip.
	f.OnReshard = func(ctx context.Context, to shardmap.Map) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := st.Warm(ctx, to.DSNs, cfg.dbMaxConns); err != nil {
			return err
		}
		svc.Logger.Info("connections to the reshard's new shards are open", "version", to.Version)
		return nil
	}
	var once sync.Once
	load := func(ctx context.Context) error {
		if err := shardmap.EnsureCatalog(ctx, pool); err != nil {
			return fmt.Errorf("shard map catalog: %w", err)
		}
		if _, err := shardmap.Seed(ctx, pool, seed); err != nil {
			return fmt.Errorf("shard map catalog: %w", err)
		}
		if _, err := f.Refresh(ctx); err != nil {
			return fmt.Errorf("shard map catalog: %w", err)
		}
		once.Do(func() { go f.Run(ctx) })
		return nil
	}
	return load, pool.Close, nil
}

// shardMapHandler shows the map this replica routes by (admin port), for
// shardctl status: its version, router and number of shards.
func shardMapHandler(st *store.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := st.View()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"version": v.Version, "router": v.RouterName(), "shards": v.Shards()})
	})
}
