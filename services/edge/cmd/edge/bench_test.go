package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"scalelab/services/platform/platformtest"
)

// BenchmarkServeHit measures a hit through the whole edge as main runs it
// (net/http server, request ids, request metrics, the cache), for the two
// objects `make bench-edge` compares with Varnish: 1 KiB and 100 KiB, with
// either engine (EDGE_ENGINE),
// the same origin headers. The clients are raw keep-alive connections that
// send the request a Go client sends and skip the body, so the time and
// the allocations are nearly all the edge's.
func BenchmarkServeHit(b *testing.B) {
	for _, engine := range []string{"std", "fast"} {
		for _, size := range []int{1 << 10, 100 << 10} {
			b.Run(fmt.Sprintf("engine=%s/%dKiB", engine, size>>10), func(b *testing.B) { benchmarkServeHit(b, engine, size) })
		}
	}
}

func benchmarkServeHit(b *testing.B, engine string, size int) {
	body := bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz"), size/26+1)[:size]
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("ETag", `"obj"`)
		w.Write(body)
	}))
	defer origin.Close()
	edge := platformtest.Start(b, run, map[string]string{"ORIGIN_URL": origin.URL, "INSTANCE_ID": "edge", "EDGE_ENGINE": engine})
	addr := strings.TrimPrefix(edge.URL, "http://")
	req := []byte("GET /obj HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n")
	fill, err := http.Get(edge.URL + "/obj")
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, fill.Body)
	fill.Body.Close()

	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		br := bufio.NewReaderSize(conn, 64<<10)
		for pb.Next() {
			if _, err := conn.Write(req); err != nil {
				b.Error(err)
				return
			}
			if err := readHit(br, size); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// readHit reads one response from br: a 200 HIT with a body of size bytes.
func readHit(br *bufio.Reader, size int) error {
	status, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("status line %q", status)
	}
	length, hit := -1, false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, _ := bytes.Cut(line, []byte(": "))
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			length, _ = strconv.Atoi(string(value))
		case bytes.EqualFold(name, []byte("X-Cache")):
			hit = string(value) == "HIT"
		}
	}
	if length != size || !hit {
		return fmt.Errorf("Content-Length %d, hit %v; want %d and a hit", length, hit, size)
	}
	_, err = br.Discard(length)
	return err
}
