//go:build linux || darwin || freebsd || netbsd || openbsd

package fastpath

import (
	"net"
	"syscall"
)

// peerClosed reports whether the peer of conn has closed or reset it,
// without waiting and without consuming anything: a recv with MSG_PEEK and
// MSG_DONTWAIT. Data waiting (a pipelined request) or nothing yet both
// mean the peer is still there.
func peerClosed(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	var buf [1]byte
	// Control, not Read: RawConn.Read does not call f at all once the
	// connection's read deadline has passed, and a pooled connection keeps
	// the deadline of its last wait for an answer, long past after a
	// moment idle; the look would then always say "open".
	rc.Control(func(fd uintptr) {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN || err == syscall.EINTR:
		case err != nil:
			closed = true // ECONNRESET and the like
		case n == 0:
			closed = true // orderly shutdown: EOF
		}
	})
	return closed
}
