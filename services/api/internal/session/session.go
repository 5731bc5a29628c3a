// Package session keeps login sessions in Redis, so that any replica of the
// api can serve any request: the guide's chapter 1 ("the app cannot store
// user sessions in local memory, because the next request might hit a
// different server") made real.
//
// # Why Redis and not the replica's memory
//
// Behind a round-robin load balancer a session kept in one replica's memory
// works for one request in N. With the sessions in a store every replica
// reads, the replicas stay stateless: the balancer may send each request
// anywhere, replicas can be added, removed or restarted (a deploy, a crash,
// `docker compose up --scale api=5`) and nobody is logged out. /me shows it:
// session_created_by names the replica that logged the user in, served_by
// the one answering now, and they differ while the session still works.
//
// The alternative is sticky sessions: the balancer pins each client to one
// replica (by a cookie it sets, or by hashing the client's address) and the
// session stays in that replica's memory. It saves a Redis round trip per
// request, and pays for it elsewhere: load follows clients, not requests, so
// a few heavy clients overload their replica while a new replica gets only
// new clients; a replica that dies or is scaled away logs out everyone pinned
// to it; draining one for a deploy lasts as long as its longest session; and
// address hashing pins a whole office behind one NAT to one replica and
// loses a phone that changes networks. Here the cost is instead one Redis
// call per request that needs the session, and Redis becomes a dependency of
// logging in: while it is down, /login and /me answer 503 "session store
// unavailable" (unlike the cache, which Redis only makes faster). Production
// systems replicate Redis for that reason; signed tokens (such as JWTs) are
// the other way out, trading the lookup for sessions that cannot be revoked
// before they expire.
//
// # Why the id is 256 random bits
//
// The session id is a bearer credential: whoever presents it is the user.
// So it must be impossible to guess: 32 bytes from crypto/rand, base64url
// encoded (43 characters). With a billion live sessions an attacker making
// a trillion guesses a second would still need about 10^48 years to hit
// one. It is never derived from anything an attacker knows: not the user id
// (a cookie "user_id=42" lets anyone be user 42 by editing it), not a
// counter or a timestamp, not math/rand. Every login mints a new id, so an
// id planted in a victim's browser before login (session fixation) is worth
// nothing after it. Ids are never logged.
//
// Sessions expire after a TTL of inactivity: every read pushes the expiry
// back (GETEX ... EX ttl), so an active user stays logged in and an
// abandoned session disappears on its own.
package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotFound means there is no such session: it never existed, expired, or
// was logged out.
var ErrNotFound = errors.New("session not found")

// IDBytes is the number of random bytes in a session id (256 bits).
const IDBytes = 32

// idLen is the length of an id in unpadded base64url.
var idLen = base64.RawURLEncoding.EncodedLen(IDBytes)

// Session is what a session id stands for, stored as JSON in Redis.
type Session struct {
	UserID    int64     `json:"user_id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"` // the instance that logged the user in
}

// Store keeps sessions in Redis under "session:<id>".
type Store struct {
	rdb     redis.UniversalClient
	ttl     time.Duration
	timeout time.Duration
}

// New returns a store over rdb whose sessions live ttl after their last use
// and whose calls give up after timeout. ttl must be positive.
func New(rdb redis.UniversalClient, ttl, timeout time.Duration) *Store {
	if ttl <= 0 {
		panic("session: New with a non-positive ttl")
	}
	return &Store{rdb: rdb, ttl: ttl, timeout: timeout}
}

// TTL is how long a session lives after its last use.
func (s *Store) TTL() time.Duration { return s.ttl }

func key(id string) string { return "session:" + id }

// NewID returns a fresh session id: 32 bytes from crypto/rand in unpadded
// base64url.
func NewID() string {
	var b [IDBytes]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather than return weak bytes)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ValidID reports whether id has the shape of an id NewID makes: exactly 43
// characters of canonical base64url. Anything else is refused before it
// reaches Redis, so a forged cookie cannot name arbitrary or huge keys.
func ValidID(id string) bool {
	if len(id) != idLen {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(id)
	return err == nil && len(b) == IDBytes
}

// Create stores sess under a new id and returns the id.
func (s *Store) Create(ctx context.Context, sess Session) (string, error) {
	val, err := json.Marshal(sess)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	id := NewID()
	// NX: a collision of 256-bit ids does not happen, but if it ever did,
	// overwriting would hand one user another's session.
	ok, err := s.rdb.SetNX(ctx, key(id), val, s.ttl).Result()
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errors.New("session: new id already in use")
	}
	return id, nil
}

// Get returns the session with this id and pushes its expiry back to the
// full TTL (sliding expiry), or ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (Session, error) {
	if !ValidID(id) {
		return Session{}, ErrNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	b, err := s.rdb.GetEx(ctx, key(id), s.ttl).Bytes()
	if errors.Is(err, redis.Nil) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, err
	}
	var sess Session
	if err := json.Unmarshal(b, &sess); err != nil {
		// Unreadable is as good as gone: the user logs in again.
		return Session{}, fmt.Errorf("%w: stored value is not a session: %v", ErrNotFound, err)
	}
	return sess, nil
}

// Delete removes the session (logout). Deleting a session that does not
// exist is not an error.
func (s *Store) Delete(ctx context.Context, id string) error {
	if !ValidID(id) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.rdb.Del(ctx, key(id)).Err()
}
