//go:build containers

package hitpath

// What one GET /users/{id} hit costs a replica, server included, in time
// and allocations: net/http with the platform's middleware (std) against
// the hit path (fast), both over the same users handler, Redis and
// PostgreSQL (go test -tags containers -run '^$' -bench . -benchmem
// ./internal/hitpath). The client is a raw keep-alive connection that
// allocates nothing per request, so allocs/op are the server's (and the
// Redis client's).

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"testing"
)

func BenchmarkHit(b *testing.B) {
	p := newPair(b)
	req := []byte(get("/users/42"))
	for _, side := range []struct{ name, addr string }{{"std", p.std}, {"fast", p.fast}} {
		b.Run(side.name, func(b *testing.B) {
			c := dialRaw(b, side.addr)
			c.roundTrip(b, req) // the miss that fills the cache, for the hits
			b.ReportAllocs()
			for b.Loop() {
				c.roundTrip(b, req)
			}
		})
		b.Run(side.name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(8) // 8 per CPU: the Redis MGETs share round trips
			b.RunParallel(func(pb *testing.PB) {
				c := dialRaw(b, side.addr)
				for pb.Next() {
					c.roundTrip(b, req)
				}
			})
		})
	}
}

// rawConn sends a request and reads its answer with reused buffers.
type rawConn struct {
	c    net.Conn
	r    *bufio.Reader
	body []byte
}

func dialRaw(b *testing.B, addr string) *rawConn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return &rawConn{c: c, r: bufio.NewReaderSize(c, 4096), body: make([]byte, 4096)}
}

// roundTrip wants a 200 and reads its body by its Content-Length.
func (c *rawConn) roundTrip(b *testing.B, req []byte) {
	if _, err := c.c.Write(req); err != nil {
		b.Fatal(err)
	}
	length := -1
	for first := true; ; first = false {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			b.Fatal(err)
		}
		if first && !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
			b.Fatalf("answer %q", line)
		}
		if len(line) == 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if length < 0 || length > len(c.body) {
		b.Fatalf("Content-Length %d", length)
	}
	if _, err := io.ReadFull(c.r, c.body[:length]); err != nil {
		b.Fatal(err)
	}
}
