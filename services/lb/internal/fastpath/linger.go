package fastpath

import (
	"io"
	"net"
	"time"
)

// How long and how much the lb reads and discards of a body it will not
// forward before it closes the connection.
const (
	lingerTime  = time.Second
	lingerBytes = 4 << 20
)

// closeUnread closes this exchange's connection once it is answered, with
// the rest of the client's request (its body) left unread.
func (c *clientConn) closeUnread() {
	c.closing = true
	c.unread = true
}

// lingerClose closes a connection whose client may still be sending. A
// socket closed with unread input makes the kernel send a reset, and a
// reset can destroy the answer (a 413, say) in the client's receive buffer
// before the client reads it (RFC 9112, section 9.6). So the lb half-closes,
// which the client sees as the end of the answer, reads and discards what
// still comes for a bounded time, and only then closes: net/http's server
// and nginx's lingering_close do the same.
func lingerClose(conn net.Conn) {
	if hc, ok := conn.(interface{ CloseWrite() error }); ok && hc.CloseWrite() == nil {
		conn.SetReadDeadline(time.Now().Add(lingerTime))
		io.CopyN(io.Discard, conn, lingerBytes)
	}
	conn.Close()
}
