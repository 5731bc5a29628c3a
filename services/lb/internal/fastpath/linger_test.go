package fastpath

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// A client whose body the lb refuses is still sending it when the 413 goes
// out. The lb reads and discards the rest rather than close on it: closed
// with unread input, the connection would be reset, and the reset can reach
// the client before it reads the 413 (as a write error, or as a lost answer).
func TestRefusedBodyReadNotReset(t *testing.T) {
	backend := echoBackend(t)
	lb := startLB(t, []string{backend.URL}, func(c *Config) { c.Forward.MaxBodyBytes = 1024 })
	const size = 1 << 20 // far more than the kernel buffers before the lb reads
	for _, tc := range []struct{ name, head, body string }{
		{"declared", "POST / HTTP/1.1\r\nHost: lb\r\nContent-Length: 1048576\r\n\r\n", strings.Repeat("x", size)},
		{"chunked", "POST / HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\n\r\n",
			"100000\r\n" + strings.Repeat("x", size) + "\r\n0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", lb.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tc.head+tc.body); err != nil {
				t.Fatalf("sending the body the lb refuses: %v, want it read and discarded", err)
			}
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("reading the answer: %v", err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != 413 || !strings.HasPrefix(string(body), "413 Content Too Large:") {
				t.Errorf("answer: %d %q %v, want 413 Content Too Large", resp.StatusCode, body, err)
			}
			if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
				t.Errorf("after the answer: %q %v, want the lb's end of the connection (EOF)", rest, err)
			}
		})
	}
}
