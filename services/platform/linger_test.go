package platform

import (
	"io"
	"net"
	"testing"
	"time"
)

// A client still sending when its answer goes out reads the whole answer,
// then the server's end of the connection, and no reset: LingerClose read
// and discarded what came after the answer, and closed once the client
// closed its own side.
func TestLingerCloseReadsWhatThePeerStillSends(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		conn.Write([]byte("answer"))
		LingerClose(conn, time.Minute, 4<<20)
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	const size = 1 << 20 // far more than the kernel buffers unread
	if _, err := conn.Write(make([]byte, size)); err != nil {
		t.Fatalf("sending what the server does not read: %v, want it read and discarded", err)
	}
	if got, err := io.ReadAll(conn); err != nil || string(got) != "answer" {
		t.Fatalf("read %q, %v; want \"answer\", then the end of the connection", got, err)
	}
	conn.Close()
	<-done // the server's side closed once the client closed its own
}

// A connection that cannot half-close (net.Pipe) is closed at once.
func TestLingerCloseWithoutHalfClose(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	go LingerClose(server, time.Minute, 4<<20)
	if b, err := io.ReadAll(client); err != nil || len(b) != 0 {
		t.Fatalf("read %q, %v; want the connection closed", b, err)
	}
}
