package platform

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func plainGets(answer func(c *PlainGetConn) bool, logs io.Writer) *PlainGets {
	return NewPlainGets(answer, PlainGetsConfig{Limits: Limits{HeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second},
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
}

// Requests sent back to back are answered in order until the first one
// Answer does not take; that one and the rest reach net/http's side
// byte for byte.
func TestPlainGetsAnswerThenHandOverInOrder(t *testing.T) {
	p := plainGets(func(c *PlainGetConn) bool {
		if string(c.Req.Target) != "/mine" {
			return false
		}
		c.Write([]byte("HTTP/1.1 204 No Content\r\n\r\n"))
		return true
	}, io.Discard)
	client, server := net.Pipe()
	defer client.Close()
	l := NewHandoffListener(&net.TCPAddr{})
	defer l.Close()
	go p.Handle(server, l)

	rest := "GET /other HTTP/1.1\r\nHost: a\r\n\r\nGET /mine HTTP/1.1\r\nHost: a\r\n\r\n"
	go io.WriteString(client, "GET /mine HTTP/1.1\r\nHost: a\r\n\r\nGET /mine HTTP/1.1\r\nHost: a\r\n\r\n"+rest)
	br := bufio.NewReader(client)
	for i := range 2 {
		line, err := br.ReadString('\n')
		if err != nil || line != "HTTP/1.1 204 No Content\r\n" {
			t.Fatalf("answer %d: %q, %v", i+1, line, err)
		}
		br.ReadString('\n')
	}
	handed, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(rest))
	if _, err := io.ReadFull(handed, got); err != nil || string(got) != rest {
		t.Fatalf("net/http's side read %q, %v; want %q", got, err, rest)
	}
}

// A panic in Answer ends its connection, logged, and not the process.
func TestPlainGetsPanicClosesTheConnection(t *testing.T) {
	var logs lockedBuffer
	p := plainGets(func(c *PlainGetConn) bool { panic("boom") }, &logs)
	client, server := net.Pipe()
	defer client.Close()
	l := NewHandoffListener(&net.TCPAddr{})
	defer l.Close()
	done := make(chan struct{})
	go func() { defer close(done); p.Handle(server, l) }()
	go io.WriteString(client, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
	if b, err := io.ReadAll(client); err != nil || len(b) != 0 {
		t.Fatalf("read %q, %v; want the connection closed with no answer", b, err)
	}
	<-done
	if !strings.Contains(logs.String(), "panic") || !strings.Contains(logs.String(), "boom") {
		t.Fatalf("log %q names no panic", logs.String())
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// While the service drains (Draining), an answer closes its
// connection: Answer is told so (Closing) and the loop ends after it, even
// though the client asked to keep the connection alive.
func TestPlainGetsCloseAfterAnswerWhileServiceDrains(t *testing.T) {
	var draining atomic.Bool
	p := plainGets(func(c *PlainGetConn) bool {
		if c.Closing() {
			c.Write([]byte("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"))
		} else {
			c.Write([]byte("HTTP/1.1 204 No Content\r\n\r\n"))
		}
		return true
	}, io.Discard)
	p.Draining = draining.Load
	client, server := net.Pipe()
	defer client.Close()
	l := NewHandoffListener(&net.TCPAddr{})
	defer l.Close()
	done := make(chan struct{})
	go func() { defer close(done); p.Handle(server, l) }()
	br := bufio.NewReader(client)
	read := func() bool {
		t.Helper()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Close // Connection: close
	}
	go io.WriteString(client, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n")
	if read() {
		t.Fatalf("before the drain: Connection: close, want the connection kept")
	}
	draining.Store(true)
	go io.WriteString(client, "GET /b HTTP/1.1\r\nHost: a\r\n\r\n")
	if !read() {
		t.Fatalf("while the service drains: the connection kept, want Connection: close")
	}
	<-done // the loop ended the connection after that answer
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("after the answer: %q %v, want the end of the connection", rest, err)
	}
}
