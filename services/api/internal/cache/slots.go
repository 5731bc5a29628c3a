package cache

import (
	"strconv"
	"strings"
)

// Redis Cluster puts a key in one of 16384 slots by the CRC16 of its hash
// tag (the part between the first braces, else the whole key), and a
// command or script may only touch keys of one slot. The scripts here
// touch a user's value, lease and version (one slot already, through the
// tag `{user:ID}`) and its shard's trust key: so on a cluster every key is
// given a bucket tag in front, and the trust key is kept once per bucket.

// buckets is how many slots a shard's trust is spread over: the cached
// users spread over as many slots, so it is also the grain at which the
// cache's load spreads over the primaries. Each fence tick renews one
// trust key per bucket and shard (buckets × shards SETs in one pipeline),
// so it is kept small.
const buckets = 16

const clusterSlots = 16384

// bucketTags[b] is a hash tag whose slot lies in the b-th sixteenth of the
// slot space. redis-cli --cluster create gives each primary a contiguous
// range, so buckets spread evenly over the primaries (6, 5, 5 over three)
// instead of as a hash of 16 names happens to fall.
var bucketTags = func() [buckets]string {
	var tags [buckets]string
	found := 0
	for n := 0; found < buckets; n++ {
		tag := "c" + strconv.Itoa(n)
		b := Slot(tag) * buckets / clusterSlots
		if tags[b] == "" {
			tags[b] = tag
			found++
		}
	}
	return tags
}()

// bucketOf is the bucket of a logical key: the range its own slot falls in.
func bucketOf(key string) int { return Slot(key) * buckets / clusterSlots }

// clusterKey is the name of a logical key on a cluster: the bucket tag in
// front, so that it shares its slot with the bucket's trust keys. Suffixes
// (":lease", ":v") keep the tag and so the slot.
func clusterKey(bucket int, key string) string { return "{" + bucketTags[bucket] + "}" + key }

// Slot is the Redis Cluster slot of key (CRC16/XMODEM of its hash tag).
func Slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % clusterSlots
}

// ClusterName is the name a logical key has on a cluster (for tests and
// tools that look for a key's node).
func ClusterName(key string) string { return clusterKey(bucketOf(key), key) }
