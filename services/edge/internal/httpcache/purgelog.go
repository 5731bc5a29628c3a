package httpcache

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// purgeLog guards fills against the purges and invalidations that ran
// while they were fetching. A fill notes the log's position when it starts
// (mark) and, when it is about to store, asks whether a purge recorded since
// then covers its key (purgedSince): the response may be the very content
// the purge meant to remove. Purges of other URLs, tags or prefixes do not
// stop it: an edge in front of a site that takes writes sees unsafe requests
// all the time, and each invalidates its own URL only (RFC 9111 section 4.4).
//
// The log remembers the last maxPurgeRecords purges. A fill that started
// before the oldest one remembered cannot tell what it missed, and does not
// store: forgetting is safe, only less useful.
type purgeLog struct {
	next atomic.Uint64 // sequence number the next purge gets

	mu     sync.Mutex
	floor  uint64       // sequence number of recent[0]
	recent []purgeScope // the purges numbered floor, floor+1, ...
}

// maxPurgeRecords bounds the log: enough for thousands of writes during one
// origin fetch.
const maxPurgeRecords = 4096

// purgeScope is what one purge removed: a URL (primary key), every URL whose
// response carried a surrogate key, or every URL under a prefix.
type purgeScope struct {
	url, tag, prefix string
}

// covers reports whether the purge removed what a fill of key, whose
// response carries the surrogate keys tags, would store.
func (s purgeScope) covers(key string, tags []string) bool {
	switch {
	case s.url != "":
		return s.url == key
	case s.tag != "":
		return slices.Contains(tags, s.tag)
	default:
		return strings.HasPrefix(key, s.prefix)
	}
}

// mark returns the log's position, for a fill starting now.
func (l *purgeLog) mark() uint64 { return l.next.Load() }

// add records purges about to run. It is called before they delete
// anything: a fill that stores after add sees them, and one that stored
// before has its entry deleted by them.
func (l *purgeLog) add(scopes ...purgeScope) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recent = append(l.recent, scopes...)
	if over := len(l.recent) - maxPurgeRecords; over > 0 {
		// Drop the older half at once rather than one by one.
		drop := max(over, maxPurgeRecords/2)
		l.recent = slices.Delete(l.recent, 0, drop)
		l.floor += uint64(drop)
	}
	l.next.Add(uint64(len(scopes)))
}

// purgedSince reports whether a purge recorded at or after position seq
// covers key or one of tags, or might have (it was forgotten).
func (l *purgeLog) purgedSince(seq uint64, key string, tags []string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if seq < l.floor {
		return true
	}
	for _, s := range l.recent[seq-l.floor:] {
		if s.covers(key, tags) {
			return true
		}
	}
	return false
}
