package platform

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

func TestConnSetWakesOnlyTheIdleAndClosesAll(t *testing.T) {
	var set ConnSet
	idleConn, idlePeer := net.Pipe()
	busyConn, busyPeer := net.Pipe()
	defer idlePeer.Close()
	defer busyPeer.Close()
	var idle, busy atomic.Bool
	idle.Store(true)
	set.Add(idleConn, &idle)
	set.Add(busyConn, &busy)

	set.WakeIdle()
	if _, err := idleConn.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("idle conn after WakeIdle: %v, want a deadline error", err)
	}
	// The busy one was not woken: it still reads what its peer sends.
	go busyPeer.Write([]byte("x"))
	if _, err := busyConn.Read(make([]byte, 1)); err != nil {
		t.Fatalf("busy conn after WakeIdle: %v, want its peer's byte", err)
	}

	set.Remove(idleConn)
	set.CloseAll()
	if _, err := busyConn.Read(make([]byte, 1)); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("busy conn after CloseAll: %v, want closed", err)
	}
	idleConn.SetReadDeadline(time.Time{})
	go idlePeer.Write([]byte("y"))
	if _, err := idleConn.Read(make([]byte, 1)); err != nil {
		t.Fatalf("removed conn after CloseAll: %v, want it left open", err)
	}
}
