package fastpath

import "time"

// How long and how much the lb reads and discards of a body it will not
// forward before it closes the connection (platform.LingerClose): bounded
// both ways, so that a client that keeps sending cannot hold it open.
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
