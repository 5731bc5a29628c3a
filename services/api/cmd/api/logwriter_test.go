package main

import (
	"bytes"
	"testing"
	"time"
)

func TestBatchWriterWritesBatchesAndTheRestOnClose(t *testing.T) {
	var out bytes.Buffer
	w := newBatchWriter(&out, time.Hour, 10) // no timer fires in this test
	w.Write([]byte("abcd\n"))
	if out.Len() != 0 {
		t.Fatalf("a line below the batch size was written at once: %q", out.String())
	}
	w.Write([]byte("efgh\n"))
	if out.String() != "abcd\nefgh\n" {
		t.Fatalf("a full batch: out %q, want both lines", out.String())
	}
	w.Write([]byte("ij\n"))
	w.Close()
	if out.String() != "abcd\nefgh\nij\n" {
		t.Fatalf("after Close: out %q, want the last line too", out.String())
	}
	w.Write([]byte("late\n"))
	if out.String() != "abcd\nefgh\nij\nlate\n" {
		t.Fatalf("a write after Close: out %q, want it written through", out.String())
	}
}
