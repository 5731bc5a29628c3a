package hitpath

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"time"

	"scalelab/services/api/internal/cacheaside"
	"scalelab/services/api/internal/users"
	"scalelab/services/platform"
)

// answer serves GET /users/{id} with a well-formed id and no query; false
// (nothing written) for any other target, which the mux routes.
func (s *Server) answer(c *platform.PlainGetConn) bool {
	idText, ok := bytes.CutPrefix(c.Req.Target, []byte("/users/"))
	if !ok {
		return false
	}
	id, err := users.ParseID(string(idText)) // a '/', a '?' or a bad id: the handler's
	if err != nil {
		return false
	}
	reqID := c.Begin()
	ctx := platform.ContextWithRequestID(context.Background(), reqID)
	res, err := s.users.ReadUser(ctx, id)
	served := platform.Served{Method: http.MethodGet, Status: http.StatusOK, Bytes: int64(len(res.Body) + 1)}
	if err == nil && res.Found() {
		c.Out = s.appendFound(c.Out[:0], reqID, res, c.Closing())
		c.Out = append(c.Out, res.Body...)
		c.Out = append(c.Out, '\n')
		c.Write(c.Out)
	} else {
		served.Status, served.Bytes = s.writeOther(ctx, c, id, reqID, res, err)
	}
	c.Record(ctx, served)
	return true
}

// appendFound renders the head of the 200 that users.Handler.WriteRead
// writes for a found user (platform.WriteJSON's body: the JSON and a
// newline), with the fields the middleware and net/http add.
func (s *Server) appendFound(b []byte, reqID string, res cacheaside.Result, closing bool) []byte {
	b = append(b, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Cache: "...)
	b = append(b, res.Source...)
	b = append(b, "\r\nX-Request-Id: "...)
	b = append(b, reqID...)
	b = append(b, "\r\nX-Served-By: "...)
	b = append(b, s.instance...)
	b = append(b, "\r\nX-Shard: "...)
	b = strconv.AppendInt(b, int64(res.Shard), 10)
	return appendEnd(b, len(res.Body)+1, closing)
}

// appendEnd adds what net/http adds to a head: the body's length, the
// connection's end when it ends, the date; then the blank line.
func appendEnd(b []byte, length int, closing bool) []byte {
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(length), 10)
	if closing {
		b = append(b, "\r\nConnection: close"...)
	}
	b = append(b, "\r\nDate: "...)
	b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
	return append(b, "\r\n\r\n"...)
}
