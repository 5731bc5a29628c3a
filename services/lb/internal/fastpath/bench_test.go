package fastpath

import (
	"bytes"
	"net"
	"testing"
)

// BenchmarkForward measures the fast path end to end on loopback: one
// keep-alive client connection, the lb, one keep-alive backend answering
// from memory, client and backend written not to allocate. Most of the
// time is system calls; the allocations are the lb's (and the platform
// middleware's) own.
func BenchmarkForward(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	answer := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\nhello, world!\n")
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				// A backend that knows its one request shape: read to the
				// end of a head, answer; no allocation per request.
				defer conn.Close()
				buf := make([]byte, 4096)
				have := 0
				for {
					n, err := conn.Read(buf[have:])
					if err != nil {
						return
					}
					have += n
					for {
						i := bytes.Index(buf[:have], []byte("\r\n\r\n"))
						if i < 0 {
							break
						}
						have = copy(buf, buf[i+4:have])
						if _, err := conn.Write(answer); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	lb := startLB(b, []string{"http://" + ln.Addr().String()})
	conn, err := net.Dial("tcp", lb.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	req := []byte("GET /bench HTTP/1.1\r\nHost: lb\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	buf := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := conn.Write(req); err != nil {
			b.Fatal(err)
		}
		have := 0
		for !bytes.HasSuffix(buf[:have], []byte("hello, world!\n")) {
			n, err := conn.Read(buf[have:])
			if err != nil {
				b.Fatal(err)
			}
			have += n
		}
		if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200 ")) {
			b.Fatalf("%q", buf[:have])
		}
	}
}
