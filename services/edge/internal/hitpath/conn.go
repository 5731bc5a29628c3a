package hitpath

import (
	"context"

	"scalelab/services/platform"
)

// inlineBody is the largest body copied behind the head into one write;
// a larger one is written from the store with writev, head and body in
// one system call without a copy.
const inlineBody = 16 << 10

// answer writes a plain hit for c.Req, and records it as the platform
// records its servers' requests; false when the cache has no plain hit
// for it (nothing written).
func (s *Server) answer(c *platform.PlainGetConn) bool {
	if c.Req.Via {
		return false // the handler's loop detection reads Via
	}
	now := s.cache.Now()
	e := s.cache.PlainHit(string(c.Req.Target), now)
	if e == nil {
		return false
	}
	id := c.Begin()
	c.Out = s.cache.AppendHitHead(c.Out[:0], e, now, id, c.Closing())
	if len(e.Body) <= inlineBody {
		c.Out = append(c.Out, e.Body...)
		c.Write(c.Out)
	} else {
		c.WriteBody(c.Out, e.Body)
	}
	c.Record(context.Background(), platform.Served{Method: "GET", Status: 200, Bytes: int64(len(e.Body))})
	return true
}
