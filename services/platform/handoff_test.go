package platform

import (
	"errors"
	"io"
	"net"
	"testing"
)

func TestHandoffReplaysTheBufferedBytesThenReadsOn(t *testing.T) {
	l := NewHandoffListener(&net.TCPAddr{Port: 8080})
	client, server := net.Pipe()
	defer client.Close()
	buffered := []byte("GET / HTTP/1.1\r\n")
	handed := make(chan bool)
	go func() { handed <- l.Hand(server, buffered) }()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if !<-handed {
		t.Fatal("Hand = false on an open listener")
	}
	buffered[0] = 'X' // the caller's buffer is reused: Hand must have copied it
	go func() { client.Write([]byte("Host: a\r\n\r\n")); client.Close() }()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "GET / HTTP/1.1\r\nHost: a\r\n\r\n" {
		t.Fatalf("read %q", got)
	}
	if l.Addr().String() != ":8080" {
		t.Fatalf("Addr = %v", l.Addr())
	}
}

func TestHandoffAfterCloseRefuses(t *testing.T) {
	l := NewHandoffListener(&net.TCPAddr{})
	l.Close()
	l.Close() // a second Close is harmless
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	if l.Hand(server, nil) {
		t.Fatal("Hand = true after Close")
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
	}
}
