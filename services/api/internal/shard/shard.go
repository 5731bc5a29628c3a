// Package shard maps a key to the database shard that holds it.
package shard

import "hash/crc32"

// Router maps a key to a shard number in [0, Shards()). Each sharding scheme
// (modulo now, consistent hashing later) is one small type.
type Router interface {
	Shard(key string) int
	Shards() int
}

// Modulo is the guide's router: ShardID = crc32(key) % N. It is perfectly
// even and trivially cheap, but changing N moves almost every key.
type Modulo struct{ N int }

// Shard returns crc32(key) % N.
func (m Modulo) Shard(key string) int {
	return int(crc32.ChecksumIEEE([]byte(key)) % uint32(m.N))
}

// Shards returns N.
func (m Modulo) Shards() int { return m.N }
