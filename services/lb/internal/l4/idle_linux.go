//go:build linux && !386

package l4

import (
	"net"
	"syscall"
	"time"
	"unsafe"
)

const tcpInfoSupported = true

// tcpIdle asks the kernel how long ago the socket last received or sent
// data. RawConn.Control only holds a reference to the descriptor, so it is
// safe while splice is busy on the same socket.
func tcpIdle(c *net.TCPConn) (time.Duration, bool) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, false
	}
	var info syscall.TCPInfo
	var errno syscall.Errno
	err = raw.Control(func(fd uintptr) {
		size := uint32(syscall.SizeofTCPInfo)
		_, _, errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&size)), 0)
	})
	if err != nil || errno != 0 {
		return 0, false
	}
	return time.Duration(min(info.Last_data_recv, info.Last_data_sent)) * time.Millisecond, true
}
