//go:build !linux || 386

package l4

import (
	"net"
	"time"
)

// Without TCP_INFO (and without splice, which is Linux's), the server uses
// the portable copy, which notes the time of every read itself.
const tcpInfoSupported = false

func tcpIdle(*net.TCPConn) (time.Duration, bool) { return 0, false }
