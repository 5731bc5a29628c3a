package cache

import "testing"

// The slots Redis itself gives (CLUSTER KEYSLOT), tags included.
func TestSlotIsRedisClusterKeySlot(t *testing.T) {
	for key, want := range map[string]int{
		"foo":                  12182,
		"bar":                  5061,
		"{user1000}.following": 3443,
		"{user1000}.followers": 3443,
		"foo{}{bar}":           8363, // an empty tag is no tag: the whole key
		"{user:42}":            Slot("user:42"),
		"{c0}cache:trust:1":    Slot("c0"),
	} {
		if got := Slot(key); got != want {
			t.Errorf("Slot(%q) = %d, want %d", key, got, want)
		}
	}
}

// Each bucket's tag lands in its own sixteenth of the slots, and a user's
// keys land in the slot of the trust keys they are checked against.
func TestBucketsShareASlotWithTheirTrust(t *testing.T) {
	seen := map[string]bool{}
	for b, tag := range bucketTags {
		if s := Slot(tag); s*buckets/clusterSlots != b {
			t.Errorf("bucket %d: tag %q has slot %d, outside the bucket", b, tag, s)
		}
		if seen[tag] {
			t.Errorf("tag %q used twice", tag)
		}
		seen[tag] = true
	}
	c := &Cache{cluster: nil}
	if tk, k := c.names("cache:trust:1", "{user:42}"); tk != "cache:trust:1" || k != "{user:42}" {
		t.Errorf("over one Redis the names changed: %q %q", tk, k)
	}
	for _, key := range []string{"{user:1}", "{user:42}", "{user:7345812}"} {
		b := bucketOf(key)
		user, trust := clusterKey(b, key), clusterKey(b, "cache:trust:2:map7")
		if Slot(user) != Slot(trust) || Slot(leaseKey(user)) != Slot(trust) || Slot(versionKey(user)) != Slot(trust) {
			t.Errorf("%s: user %q and trust %q in different slots", key, user, trust)
		}
	}
}
