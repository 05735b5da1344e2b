package sock

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gozmp/zmp/internal/zmtp"
)

// neverReader subscribes to topics starting with "t" and reads nothing.
func neverReader(t *testing.T, p *Pub) *zmtp.Conn {
	t.Helper()
	c, err := Dial(testContext(t, 10*time.Second), p.Endpoint(), zmtp.Config{Type: zmtp.Sub}, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.WriteMessage([][]byte{{1, 't'}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	return c
}

// fillQueues publishes large messages until a queue stays full: a
// publish is dropped even after the writer had 50 ms to take the queue,
// so its socket is full and its writer blocked.
func fillQueues(t *testing.T, p *Pub) {
	t.Helper()
	body := bytes.Repeat([]byte{'x'}, 64<<10)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatal("no queue filled up")
		}
		if _, dropped := p.Publish([][]byte{[]byte("t"), body}); dropped == 0 {
			continue
		}
		time.Sleep(50 * time.Millisecond)
		if _, dropped := p.Publish([][]byte{[]byte("t"), body}); dropped > 0 {
			return
		}
	}
}

// TestPubWaitRoom: WaitRoom waits while a subscriber's queue is full,
// returns once that subscriber reads, and does not wait for one that
// went away.
func TestPubWaitRoom(t *testing.T) {
	p := startPub(t, "tcp://127.0.0.1:0", PubConfig{Link: LinkConfig{QueueLen: 4, WriteTimeout: time.Minute}})
	slow := neverReader(t, p)
	waitFor(t, 10*time.Second, func() bool { return publish(p, "t-probe") == 1 })
	if err := p.WaitRoom(testContext(t, 10*time.Second), []byte("t")); err != nil {
		t.Fatalf("WaitRoom with every queue empty: %v", err)
	}
	fillQueues(t, p)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := p.WaitRoom(ctx, []byte("t")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitRoom on a full queue whose subscriber reads nothing: %v, want the deadline", err)
	}
	if err := p.WaitRoom(testContext(t, 10*time.Second), []byte("other")); err != nil {
		t.Fatalf("WaitRoom for a topic the full subscriber does not take: %v", err)
	}

	// The subscriber starts reading: room comes.
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			if _, err := slow.ReadMessage(); err != nil {
				return
			}
		}
	}()
	if err := p.WaitRoom(testContext(t, 10*time.Second), []byte("t")); err != nil {
		t.Fatalf("WaitRoom once the subscriber reads: %v", err)
	}
	slow.Close()
	<-readDone

	// A second subscriber that never reads fills up and hangs up.
	gone := neverReader(t, p)
	waitFor(t, 10*time.Second, func() bool { return publish(p, "t-probe") >= 1 && p.Stats().Subscribers == 1 })
	fillQueues(t, p)
	waited := make(chan error, 1)
	go func() { waited <- p.WaitRoom(testContext(t, 20*time.Second), []byte("t")) }()
	gone.Close()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("WaitRoom after the full subscriber hung up: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("WaitRoom still waits for a subscriber that hung up")
	}

	p.Close()
	if err := p.WaitRoom(testContext(t, time.Second), []byte("t")); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitRoom after Close: %v, want ErrClosed", err)
	}
}
