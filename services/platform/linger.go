package platform

import (
	"io"
	"net"
	"time"
)

// LingerClose closes a connection whose peer may still be sending: a
// request body the server will not read (the lb's 413), or a request the
// client pipelined behind one answered with Connection: close. A socket
// closed with unread input makes the kernel send a reset, and a reset can
// destroy the answer in the client's receive buffer before the client reads
// it (RFC 9112, section 9.6). So it half-closes, which the client sees as
// the end of the answer, reads and discards what still comes, for at most
// wait and limit bytes, and only then closes: net/http's server and nginx's
// lingering_close do the same. A connection that cannot half-close is
// closed at once.
func LingerClose(conn net.Conn, wait time.Duration, limit int64) {
	if hc, ok := conn.(interface{ CloseWrite() error }); ok && hc.CloseWrite() == nil {
		conn.SetReadDeadline(time.Now().Add(wait))
		io.CopyN(io.Discard, conn, limit)
	}
	conn.Close()
}
