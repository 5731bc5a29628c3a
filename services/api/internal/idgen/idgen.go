// Package idgen makes Snowflake-style 64-bit ids, so that every api replica
// can create user ids that are unique across all shards without asking
// anyone: no central sequence, no round trip, no single point of failure.
//
// Layout of an id, most significant bit first:
//
//	 1 bit   sign, always 0, so ids are positive int64 (BIGINT in PostgreSQL)
//	41 bits  milliseconds since Epoch (2026-01-01T00:00:00Z); lasts ~69 years
//	10 bits  node id, 0..1023, unique per running replica
//	12 bits  sequence within one millisecond, 0..4095
//
// Why this shape:
//   - Time first makes ids roughly time-ordered, so new rows land at the
//     right edge of a B-tree index instead of at random pages (random UUIDs
//     scatter inserts, split pages and churn the buffer cache).
//   - Node id in the middle makes two replicas' ids differ even in the same
//     millisecond with the same sequence; that is the whole uniqueness
//     argument, so the node id MUST be unique among live replicas.
//   - 12 bits of sequence allow 4096 ids per millisecond per replica
//     (~4 million a second); beyond that the generator waits for the next
//     millisecond rather than wrap.
//
// Choosing the node id: set NODE_ID explicitly (0..1023) when you can
// (an ordinal from the orchestrator, a StatefulSet index); otherwise derive
// it with NodeFromName(INSTANCE_ID), accepting the collision risk described
// there. NODE_ID always overrides the derived value.
//
// A caution for sharding: at low traffic nearly every id has sequence 0, so
// the low bits of an id are not random. Route by a hash of the id (as
// package shard does with crc32), never by id % N.
package idgen

import (
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"
)

// Bit widths and derived limits of the layout.
const (
	TimeBits = 41
	NodeBits = 10
	SeqBits  = 12

	MaxNode = 1<<NodeBits - 1 // 1023
	MaxSeq  = 1<<SeqBits - 1  // 4095
	maxTime = 1<<TimeBits - 1 // milliseconds; reached in 2095

	nodeShift = SeqBits
	timeShift = SeqBits + NodeBits
)

// Epoch is the zero of the id clock. A recent epoch spends none of the 41
// bits on the decades before the system existed.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// MaxBackwards is how far the wall clock may step back before Next gives up.
//
// Why 5ms: NTP normally corrects by slewing (the clock runs slightly slow,
// never backwards); a backward step happens only for large offsets (ntpd
// steps above 128ms) or after a VM pause/migration. Tiny backward jitter of a
// few milliseconds is the case worth absorbing silently. Waiting holds the
// generator's lock, so every insert on this replica stalls for the wait; 5ms
// is about one database round trip, a cost a request can absorb. A bigger
// step is an operational event: fail loudly rather than stall for seconds or,
// worse, reissue ids of a millisecond already used.
const MaxBackwards = 5 * time.Millisecond

// Errors returned by New and Next.
var (
	ErrNodeRange      = errors.New("idgen: node id out of range 0..1023")
	ErrClockBackwards = errors.New("idgen: clock moved backwards")
	ErrBeforeEpoch    = errors.New("idgen: clock is before the epoch")
	ErrExhausted      = errors.New("idgen: 41-bit time exhausted")
)

// Generator hands out ids for one node. It is safe for concurrent use.
type Generator struct {
	node int64
	now  func() time.Time

	// sleep waits for d. It is time.Sleep in production; tests replace it
	// with a function that advances their fake clock, so waiting is exact
	// and instant.
	sleep func(d time.Duration)

	mu     sync.Mutex
	lastMs int64 // millisecond of the last id issued, -1 before the first
	seq    int64 // sequence of the last id issued within lastMs
}

// New returns a generator for node (0..1023). now is the clock; nil means
// time.Now.
func New(node int, now func() time.Time) (*Generator, error) {
	if node < 0 || node > MaxNode {
		return nil, fmt.Errorf("%w: %d", ErrNodeRange, node)
	}
	if now == nil {
		now = time.Now
	}
	return &Generator{node: int64(node), now: now, sleep: time.Sleep, lastMs: -1}, nil
}

// Node returns the generator's node id.
func (g *Generator) Node() int { return int(g.node) }

// Next returns a new id, strictly greater than every id this generator
// returned before.
func (g *Generator) Next() (int64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()

	ms, err := millis(g.now())
	if err != nil {
		return 0, err
	}
	switch {
	case ms < g.lastMs:
		// The clock stepped back. Reusing a millisecond we already issued in
		// could repeat an id, so wait for the clock to pass lastMs, if the
		// step is small enough to be worth waiting for.
		if ms, err = g.waitPast(g.lastMs); err != nil {
			return 0, err
		}
		g.seq = 0
	case ms == g.lastMs:
		g.seq++
		if g.seq > MaxSeq {
			// 4096 ids in one millisecond: the sequence would wrap onto an
			// id already issued, so move on to the next millisecond.
			if ms, err = g.waitPast(g.lastMs); err != nil {
				return 0, err
			}
			g.seq = 0
		}
	default:
		g.seq = 0
	}
	g.lastMs = ms
	return ms<<timeShift | g.node<<nodeShift | g.seq, nil
}

// millis converts a clock reading to milliseconds since Epoch.
func millis(t time.Time) (int64, error) {
	ms := t.Sub(Epoch).Milliseconds()
	switch {
	case ms < 0:
		return 0, ErrBeforeEpoch
	case ms > maxTime:
		return 0, ErrExhausted
	}
	return ms, nil
}

// waitPast sleeps until the clock reads a millisecond after last and returns
// it. It fails instead if the clock is more than MaxBackwards behind last;
// that check is repeated after every sleep, so a clock that keeps falling
// back ends in an error, not an endless wait.
func (g *Generator) waitPast(last int64) (int64, error) {
	for {
		t := g.now()
		ms := t.Sub(Epoch).Milliseconds()
		if ms > last {
			return millis(t) // the same reading we compared, not a fresh one
		}
		if behind := time.Duration(last-ms) * time.Millisecond; behind > MaxBackwards {
			return 0, fmt.Errorf("%w by %v (more than %v): refusing to risk duplicate ids", ErrClockBackwards, behind, MaxBackwards)
		}
		// Sleep exactly to the start of millisecond last+1.
		g.sleep(Epoch.Add(time.Duration(last+1) * time.Millisecond).Sub(t))
	}
}

// Decode splits an id into its creation time (UTC, millisecond precision),
// node and sequence. It is for debugging and for the README; it does not
// check that the id was ever issued (or is positive).
func Decode(id int64) (t time.Time, node, seq int) {
	ms := id >> timeShift
	node = int((id >> nodeShift) & MaxNode)
	seq = int(id & MaxSeq)
	return Epoch.Add(time.Duration(ms) * time.Millisecond), node, seq
}

// NodeFromName derives a node id from a replica's name (INSTANCE_ID, which
// defaults to the hostname, i.e. the container id under compose --scale):
// FNV-1a of the name, mod 1024.
//
// Collision risk: two replicas whose names hash to the same node can issue
// the same id in the same millisecond. With n replicas the chance that any
// two collide is the birthday bound, 1-exp(-n(n-1)/2048): ~1% for 5
// replicas, ~4% for 10, ~50% for 38. Fine for a lab, not for production; there set NODE_ID
// to a value handed out uniquely (it always overrides this function), or
// have the database's unique primary key turn a rare collision into a failed
// insert that the caller retries.
func NodeFromName(name string) int {
	h := fnv.New32a()
	h.Write([]byte(name))
	return int(h.Sum32() % (MaxNode + 1))
}
