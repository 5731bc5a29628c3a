package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// NewLogger returns a JSON logger writing to w at the named level
// (debug, info, warn, error).
func NewLogger(w io.Writer, level slog.Level, service string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})).With("service", service)
}

// LogLevel returns the variable as a log level name (debug, info, warn, error).
func (e *Env) LogLevel(name string, def slog.Level) slog.Level {
	v, ok := e.lookup(name)
	if !ok {
		return def
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(v))); err != nil {
		e.fail(name, "%q is not a log level (debug, info, warn, error)", v)
		return def
	}
	return l
}

// RequestIDHeader carries a request's id from the client, through the load
// balancer, to every service it reaches.
const RequestIDHeader = "X-Request-Id"

type requestIDKey struct{}

// RequestID returns the id of the request being served, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// ContextWithRequestID returns ctx carrying id, as WithRequestID hands it
// to a handler: for a server that is not an http.Handler (a hit path).
func ContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// NewRequestID returns a random 128-bit id in hex.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validRequestID accepts what a sane client or proxy sends and refuses what
// would pollute logs (overlong or control characters).
func validRequestID[T string | []byte](id T) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// ValidRequestID is the rule above for an id read from a request head in
// place (the lb's fast path, the hit paths).
func ValidRequestID(id []byte) bool { return validRequestID(id) }

// WithRequestID makes sure every request has an id: the one the client sent
// when it is sane, a new one otherwise. The id is set on the request (so
// proxies forward it), on the response, and in the context.
func WithRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = NewRequestID()
			r.Header.Set(RequestIDHeader, id)
		}
		w.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// ServedByHeader names the replica that answered, on every response.
const ServedByHeader = "X-Served-By"

// ServedBy stamps every answer, errors included, with the instance's name:
// the guide's "the server identifies itself", on every service.
func ServedBy(instance string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(ServedByHeader, instance)
		next.ServeHTTP(w, r)
	})
}
