//go:build unix

package zmtp

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUnixSendBuffer: a Unix-domain connection asks for a send buffer
// of unixSendBuffer after its handshake (the kernel doubles what is
// asked, up to twice net.core.wmem_max).
func TestUnixSendBuffer(t *testing.T) {
	dir, err := os.MkdirTemp("", "zb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	nc, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	deadline := time.Now().Add(10 * time.Second)
	done := make(chan error, 1)
	go func() {
		c, err := Handshake(peer, Config{Type: Pub}, deadline)
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
		done <- err
	}()
	c, err := Handshake(nc, Config{Type: Sub}, deadline)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := 2 * unixSendBuffer
	if b, err := os.ReadFile("/proc/sys/net/core/wmem_max"); err == nil {
		if m, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			want = min(want, 2*m)
		}
	}
	raw, err := nc.(*net.UnixConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var gerr error
	raw.Control(func(fd uintptr) { got, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF) })
	if gerr != nil {
		t.Fatal(gerr)
	}
	if got < want {
		t.Fatalf("SO_SNDBUF %d after the handshake, want at least %d", got, want)
	}
}
