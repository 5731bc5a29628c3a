package platform

import (
	"bytes"
	"context"
)

// Begin starts the answer Answer is about to write, as the platform's
// servers start a request: it counts the request as answered here, starts
// its timing in the Route (in flight until Record), and returns its request
// id, the client's X-Request-Id or a new one (as WithRequestID gives
// net/http's requests), which the answer must carry.
func (c *PlainGetConn) Begin() (requestID string) {
	c.p.answered.Add(1)
	if c.p.Route != nil {
		c.began = c.p.Route.Start()
	}
	c.requestID = string(c.Req.RequestID)
	if c.requestID == "" {
		c.requestID = NewRequestID()
	}
	return c.requestID
}

// Record ends what Begin started: the answer, as served, is recorded in the
// Route's series and, with its path (no query) and request id, in the
// access log.
func (c *PlainGetConn) Record(ctx context.Context, served Served) {
	if c.p.Route == nil {
		return
	}
	if c.p.logRequests {
		path, _, _ := bytes.Cut(c.Req.Target, []byte("?"))
		served.Path, served.RequestID = string(path), c.requestID
	}
	c.p.Route.Record(ctx, c.began, served)
}
