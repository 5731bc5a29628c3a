package l4

import (
	"encoding/binary"
	"io"
	"net"
	"testing"

	"scalelab/services/lb/internal/balancer"
)

// BenchmarkL4 compares going through the balancer with going straight to
// the backend, in one run, so the two can be read as a ratio (never as a
// time to assert: the machine is shared). "splice" is the Linux path,
// "portable" the user-space copy it replaces.
//
//	go test -run '^$' -bench L4 ./internal/l4/
func BenchmarkL4(b *testing.B) {
	echoBackend := startBackend(b, echo)
	// source answers an 8-byte big-endian count with that many bytes.
	block := make([]byte, 256<<10)
	sourceBackend := startBackend(b, func(c net.Conn) {
		var hdr [8]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		for n := int64(binary.BigEndian.Uint64(hdr[:])); n > 0; {
			m, err := c.Write(block[:min(n, int64(len(block)))])
			if err != nil {
				return
			}
			n -= int64(m)
		}
	})

	targets := func(be *backend) []struct {
		name string
		addr string
	} {
		list := func() []*balancer.Backend { return backendList(be) }
		return []struct {
			name string
			addr string
		}{
			{"direct", be.Addr},
			{"splice", start(b, Config{Backends: list}, false).addr},
			{"portable", start(b, Config{Backends: list}, true).addr},
		}
	}

	b.Run("pingpong-128B", func(b *testing.B) {
		for _, tg := range targets(echoBackend) {
			if tg.name == "splice" && !tcpInfoSupported {
				continue
			}
			b.Run(tg.name, func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					c, err := net.Dial("tcp", tg.addr)
					if err != nil {
						b.Error(err)
						return
					}
					defer c.Close()
					msg, buf := make([]byte, 128), make([]byte, 128)
					for pb.Next() {
						if _, err := c.Write(msg); err != nil {
							b.Error(err)
							return
						}
						if _, err := io.ReadFull(c, buf); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	})

	b.Run("connect", func(b *testing.B) {
		for _, tg := range targets(echoBackend) {
			b.Run(tg.name, func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					buf := make([]byte, 1)
					for pb.Next() {
						c, err := net.Dial("tcp", tg.addr)
						if err != nil {
							b.Error(err)
							return
						}
						if _, err := c.Write(buf); err == nil {
							_, err = io.ReadFull(c, buf)
						}
						c.Close()
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	})

	b.Run("stream", func(b *testing.B) {
		const per = 64 << 10
		for _, tg := range targets(sourceBackend) {
			b.Run(tg.name, func(b *testing.B) {
				b.SetBytes(per)
				c, err := net.Dial("tcp", tg.addr)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				var hdr [8]byte
				binary.BigEndian.PutUint64(hdr[:], uint64(b.N)*per)
				b.ResetTimer()
				if _, err := c.Write(hdr[:]); err != nil {
					b.Fatal(err)
				}
				buf := make([]byte, 256<<10)
				if n, err := io.CopyBuffer(io.Discard, io.LimitReader(c, int64(b.N)*per), buf); err != nil || n != int64(b.N)*per {
					b.Fatalf("read %d of %d bytes: %v", n, int64(b.N)*per, err)
				}
			})
		}
	})
}
