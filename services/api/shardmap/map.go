// Package shardmap holds the users tier's shard map: which router places a
// user and which PostgreSQL servers are its shards, numbered in list order.
// The map is versioned and kept in PostgreSQL (the catalog), never in Redis,
// which may lose it; every api replica reads it at start and follows it
// while it runs (Follower), and shardctl changes it (package reshard).
package shardmap

import (
	"errors"
	"fmt"
	"strconv"

	"scalelab/services/api/internal/shard"
)

// Map is one version of the shard map.
type Map struct {
	Version int64    `json:"version"`
	Router  string   `json:"router"` // modulo, consistent or rendezvous
	DSNs    []string `json:"-"`      // may carry credentials: never shown
}

// Router places keys on shards; see package shard for the schemes.
type Router = shard.Router

// Routers lists the router names a map may use, in the order plans show them.
var Routers = []string{"modulo", "consistent", "rendezvous"}

// NewRouter returns the router called name over n shards.
func NewRouter(name string, n int) (Router, error) { return shard.New(name, n) }

// Key is the string a user id is routed by.
func Key(id int64) string { return strconv.FormatInt(id, 10) }

// Validate checks that the map can route: a known router, at least one
// shard, no shard listed twice.
func (m Map) Validate() error {
	if len(m.DSNs) == 0 {
		return errors.New("shard map: no shards")
	}
	seen := map[string]bool{}
	for i, d := range m.DSNs {
		if seen[d] {
			return fmt.Errorf("shard map: shard %d is listed twice", i)
		}
		seen[d] = true
	}
	_, err := NewRouter(m.Router, len(m.DSNs))
	return err
}

// MustRouter returns the map's router; the map must be valid.
func (m Map) MustRouter() Router {
	r, err := NewRouter(m.Router, len(m.DSNs))
	if err != nil {
		panic(err)
	}
	return r
}

// Same reports whether two maps route alike (ignoring their versions).
func (m Map) Same(o Map) bool {
	if m.Router != o.Router || len(m.DSNs) != len(o.DSNs) {
		return false
	}
	for i := range m.DSNs {
		if m.DSNs[i] != o.DSNs[i] {
			return false
		}
	}
	return true
}

// Describe is the map in a line, without DSNs: "v2 consistent over 4 shards".
func (m Map) Describe() string {
	return fmt.Sprintf("v%d %s over %d shards", m.Version, m.Router, len(m.DSNs))
}
