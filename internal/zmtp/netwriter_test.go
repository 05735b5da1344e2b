package zmtp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
	"unsafe"
)

// smallBuffers shrinks a TCP connection's kernel buffers so that a
// peer that does not read blocks writes after a few hundred KiB.
func smallBuffers(c *Conn) {
	if tc, ok := c.nc.(*net.TCPConn); ok {
		tc.SetWriteBuffer(64 << 10)
		tc.SetReadBuffer(64 << 10)
	}
}

func dealerRouterPair(t *testing.T) (w, r *Conn) {
	t.Helper()
	w, r = mustPair(t, Config{Type: Dealer}, Config{Type: Router})
	smallBuffers(w)
	smallBuffers(r)
	return w, r
}

// A peer that takes nothing fails the writer within the write timeout.
func TestWriteTimeoutEndsStuckWrite(t *testing.T) {
	w, _ := dealerRouterPair(t) // the router never reads
	w.SetWriteTimeout(200 * time.Millisecond)
	chunk := make([]byte, 64<<10)
	start := time.Now()
	var err error
	for time.Since(start) < 20*time.Second {
		if err = w.WriteMessage([][]byte{chunk}); err == nil {
			err = w.Flush()
		}
		if err != nil {
			break
		}
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a peer that never reads ended with %v after %v", err, time.Since(start))
	}
	if err := w.Flush(); err == nil {
		t.Fatal("the error is not sticky")
	}
}

// A peer that reads slowly but steadily is never cut off, though the
// whole message takes much longer than the timeout.
func TestWriteTimeoutCountsProgress(t *testing.T) {
	w, r := dealerRouterPair(t)
	const timeout = 400 * time.Millisecond
	w.SetWriteTimeout(timeout)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	read := make(chan error, 1)
	go func() {
		// 32 KiB every 40 ms: about 1.3 s for the message.
		buf := make([]byte, 32<<10)
		for got := 0; got < len(big); got += len(buf) {
			time.Sleep(40 * time.Millisecond)
			if _, err := io.ReadFull(r.nc, buf); err != nil {
				read <- err
				return
			}
		}
		read <- nil
	}()
	start := time.Now()
	if err := w.WriteMessage([][]byte{big}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatalf("slow but steady reader cut off after %v: %v", time.Since(start), err)
	}
	if took := time.Since(start); took < timeout {
		t.Logf("the write took only %v: the kernel buffered more than expected", took)
	}
	if err := <-read; err != nil {
		t.Fatal(err)
	}
}

// WriteMessageNow returns at once when the peer does not read; what it
// kept goes out, in order, with the next Flush.
func TestWriteMessageNowNeverWaits(t *testing.T) {
	w, r := dealerRouterPair(t)
	w.SetWriteTimeout(10 * time.Second)
	big := bytes.Repeat([]byte{7}, 4<<20)
	start := time.Now()
	pending, err := w.WriteMessageNow([][]byte{[]byte("first"), big})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("WriteMessageNow waited %v for a peer that does not read", took)
	}
	if !pending || !w.Pending() {
		t.Fatal("4 MiB to a peer that does not read: nothing pending")
	}
	// A second message must not overtake the kept bytes.
	if _, err := w.WriteMessageNow([][]byte{[]byte("second")}); err != nil {
		t.Fatal(err)
	}
	flushed := make(chan error, 1)
	go func() {
		err := w.WriteMessage([][]byte{[]byte("third")})
		if err == nil {
			err = w.Flush()
		}
		flushed <- err
	}()
	for _, want := range [][][]byte{{[]byte("first"), big}, {[]byte("second")}, {[]byte("third")}} {
		got, err := r.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) || !bytes.Equal(got[0], want[0]) || !bytes.Equal(got[len(got)-1], want[len(want)-1]) {
			t.Fatalf("got %d frames starting %q, want %q", len(got), got[0], want[0])
		}
	}
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if w.Pending() {
		t.Fatal("still pending after Flush")
	}
}

// The short deadline of a write in try mode must not outlive it: a
// PONG or a Flush written later must not fail on it, with or without a
// write timeout.
func TestTryModeLeavesNoDeadline(t *testing.T) {
	for _, timeout := range []time.Duration{0, 5 * time.Second} {
		w, r := mustPair(t, Config{Type: Dealer}, Config{Type: Router})
		w.SetWriteTimeout(timeout)
		if _, err := w.WriteMessageNow([][]byte{[]byte("now")}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		if err := w.Ping(time.Second); err != nil {
			t.Fatalf("timeout %v: Ping after a try-mode write: %v", timeout, err)
		}
		if err := w.WriteMessage([][]byte{[]byte("later")}); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatalf("timeout %v: Flush after a try-mode write: %v", timeout, err)
		}
		for _, want := range []string{"now", "later"} {
			got, err := r.ReadMessage()
			if err != nil || string(got[0]) != want {
				t.Fatalf("read %q, %v; want %q", got, err, want)
			}
		}
	}
}

// The last frame of a message, the body a receiver keeps, has memory of
// its own: keeping it does not keep other messages' frames alive.
func TestLastFrameOwnsItsMemory(t *testing.T) {
	var wire bytes.Buffer
	enc := memConn(nil, &wire, DefaultMaxMessageSize)
	for range 64 {
		enc.WriteMessage([][]byte{[]byte("hdr"), []byte("body-16-bytes..!")})
	}
	enc.Flush()
	c := memConn(wire.Bytes(), io.Discard, DefaultMaxMessageSize)
	var arena uintptr // where the first header, the arena's first frame, lies
	for i := range 64 {
		msg, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			arena = uintptr(unsafe.Pointer(unsafe.SliceData(msg[0])))
		}
		body := uintptr(unsafe.Pointer(unsafe.SliceData(msg[1])))
		if body >= arena && body < arena+arenaSize {
			t.Fatalf("message %d: the body lies in the arena of small frames", i)
		}
		if cap(msg[1]) != len(msg[1]) {
			t.Fatalf("body has len %d cap %d", len(msg[1]), cap(msg[1]))
		}
	}
}

// On a connection that is not a socket (here a net.Pipe, as fault
// injectors wrap connections) try mode falls back to a short deadline;
// it must not wait either, keep the order, and leave no deadline.
func TestWriteMessageNowOverPipe(t *testing.T) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	nw := newNetWriter(a)
	if nw.raw != nil {
		t.Fatal("a pipe taken for a socket")
	}
	c := &Conn{nc: a, nw: nw, w: bufio.NewWriterSize(nw, bufferSize), maxSize: DefaultMaxMessageSize}
	c.SetWriteTimeout(5 * time.Second)
	start := time.Now()
	pending, err := c.WriteMessageNow([][]byte{[]byte("first")}) // nobody reads the pipe yet
	if err != nil || !pending {
		t.Fatalf("WriteMessageNow to a pipe nobody reads = %v, %v", pending, err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("WriteMessageNow waited %v", took)
	}
	got := make(chan []byte, 1)
	go func() {
		buf, _ := io.ReadAll(io.LimitReader(b, 2+5+2+6))
		got <- buf
	}()
	if err := c.WriteMessage([][]byte{[]byte("second")}); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatalf("Flush after a try-mode write: %v", err)
	}
	want := []byte("\x00\x05first\x00\x06second")
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("wire %q, want %q", b, want)
	}
}

// A write deadline armed by an earlier write and passed while the
// connection was idle must not fail a later write in try mode (a
// non-blocking write checks the deadline too).
func TestTryModeAfterIdleDeadline(t *testing.T) {
	w, r := mustPair(t, Config{Type: Dealer}, Config{Type: Router})
	w.SetWriteTimeout(50 * time.Millisecond)
	if err := w.WriteMessage([][]byte{[]byte("armed")}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(120 * time.Millisecond) // the deadline passes
	if _, err := w.WriteMessageNow([][]byte{[]byte("later")}); err != nil {
		t.Fatalf("try-mode write after an idle time: %v", err)
	}
	for _, want := range []string{"armed", "later"} {
		if got, err := r.ReadMessage(); err != nil || string(got[0]) != want {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
}
