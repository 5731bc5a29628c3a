// Package shard maps a key to the database shard that holds it.
//
// Each scheme is one small type in its own file: Modulo (the guide's
// crc32(key) % N), Jump (consistent hashing, the default "consistent") and
// Rendezvous (consistent hashing that also survives removing any shard).
// New picks one by name, as configuration does.
package shard

import (
	"fmt"
	"hash/crc32"
	"strings"
)

// Router maps a key to a shard number in [0, Shards()).
type Router interface {
	Shard(key string) int
	Shards() int
}

// names lists the router names New accepts, for its error message.
var names = []string{"modulo", "consistent", "jump", "rendezvous"}

// New returns the router called name over n shards: "modulo", "consistent"
// (Jump; "jump" is the same), or "rendezvous" (shards named "0".."n-1").
func New(name string, n int) (Router, error) {
	if n < 1 {
		return nil, fmt.Errorf("shard: %d shards, need at least 1", n)
	}
	switch name {
	case "modulo":
		return Modulo{N: n}, nil
	case "consistent", "jump":
		return Jump{N: n}, nil
	case "rendezvous":
		return numbered(n), nil
	}
	return nil, fmt.Errorf("shard: unknown router %q (valid: %s)", name, strings.Join(names, ", "))
}

// Modulo is the guide's router: ShardID = crc32(key) % N. It is perfectly
// even and trivially cheap, but changing N moves almost every key: going
// from N to N+1 shards moves about N/(N+1) of them (3→4: three quarters).
type Modulo struct{ N int }

// Shard returns crc32(key) % N.
func (m Modulo) Shard(key string) int {
	return int(crc32.ChecksumIEEE([]byte(key)) % uint32(m.N))
}

// Shards returns N.
func (m Modulo) Shards() int { return m.N }
