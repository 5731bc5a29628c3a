package hitpath

import (
	"bytes"
	"context"
	"net/http"
	"strconv"

	"scalelab/services/api/internal/cacheaside"
	"scalelab/services/platform"
)

// writeOther answers a read that found no user or failed (rare, and each
// a different answer) with the handler's own code, users.Handler.WriteRead,
// run against a recorder, so that its rules are not written twice. It
// returns the status and body size for the metrics.
func (s *Server) writeOther(ctx context.Context, c *platform.PlainGetConn, id int64, reqID string, res cacheaside.Result, err error) (int, int64) {
	r, _ := http.NewRequestWithContext(ctx, http.MethodGet, string(c.Req.Target), nil)
	r.SetPathValue("id", strconv.FormatInt(id, 10))
	r.Header.Set(platform.RequestIDHeader, reqID)
	rec := &recorder{header: http.Header{}}
	rec.header.Set(platform.RequestIDHeader, reqID) // as platform.WithRequestID and ServedBy set them
	rec.header.Set(platform.ServedByHeader, s.instance)
	s.users.WriteRead(rec, r, id, res, err)

	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n")
	rec.header.Del("Content-Length") // net/http's to set, from the body
	rec.header.Del("Date")
	rec.header.Write(&b)
	head := appendEnd(bytes.TrimSuffix(b.Bytes(), []byte("\r\n")), len(rec.body), c.Closing())
	c.WriteBody(head, rec.body)
	return status, int64(len(rec.body))
}

// recorder keeps an answer written through http.ResponseWriter.
type recorder struct {
	header http.Header
	status int
	body   []byte
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body = append(r.body, p...)
	return len(p), nil
}
