package store

import (
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"scalelab/services/api/internal/breaker"
	"scalelab/services/api/internal/cache"
	"scalelab/services/api/internal/shard"
)

// View is the users tier under one version of the shard map: its router,
// a pool per shard, and the names of the shards' cache trust keys. A
// request routes and queries by one View from start to end, so it never
// mixes two maps.
type View struct {
	Version int64 // 0: a fixed map from configuration, no catalog
	router  shard.Router
	pools   []*pgxpool.Pool
	reads   []readGate         // per shard: the part of its pool reads may hold
	health  []*breaker.Breaker // per shard: whether it answers (health.go)
	labels  []string
	trust   []string
}

// Shards returns the number of shards.
func (v *View) Shards() int { return len(v.pools) }

// ShardOf returns the shard that holds id.
func (v *View) ShardOf(id int64) int { return v.router.Shard(strconv.FormatInt(id, 10)) }

// RouterName names the view's router as the map does.
func (v *View) RouterName() string {
	switch v.router.(type) {
	case shard.Modulo:
		return "modulo"
	case shard.Jump:
		return "consistent"
	case shard.Rendezvous:
		return "rendezvous"
	}
	return fmt.Sprintf("%T", v.router)
}

// TrustKey names the cache trust of shard i under this map. The name
// carries the map version: a shard's trust is renewed by a replica that
// saw that shard's outbox empty, and after a reshard the shard answers for
// other users (whose pending invalidations moved with them), so the trust
// of the old map must not vouch for the new one. Version 0 keeps the plain
// name.
func (v *View) TrustKey(i int) string { return v.trust[i] }

func trustKey(version int64, i int) string {
	if version == 0 {
		return cache.TrustKey(i)
	}
	return cache.TrustKey(i) + ":map" + strconv.FormatInt(version, 10)
}

// nullUser scans the user columns of an outer join, which may all be NULL.
type nullUser struct {
	id, version      *int64
	name, email      *string
	created, updated *time.Time
}

// dest lists the fields in the order the queries select them: id, name,
// email, created_at, updated_at, version.
func (n *nullUser) dest() []any {
	return []any{&n.id, &n.name, &n.email, &n.created, &n.updated, &n.version}
}

func (n *nullUser) user() User {
	if n.id == nil {
		return User{}
	}
	u := User{ID: *n.id, Name: *n.name, CreatedAt: *n.created, UpdatedAt: *n.updated, Version: *n.version}
	if n.email != nil {
		u.Email = *n.email
	}
	return u
}
