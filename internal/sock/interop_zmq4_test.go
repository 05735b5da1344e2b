package sock

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
)

// TestInteropZmq4DealerToRouter talks to our Router from a single
// go-zeromq/zmq4 DEALER (zmq4 duplicates messages with several peers,
// a zmq4 bug, so only one is used).
func TestInteropZmq4DealerToRouter(t *testing.T) {
	var n atomic.Int64
	r := startRouter(t, "tcp://127.0.0.1:0", RouterConfig{OnMessage: func(p *Link, f [][]byte) {
		n.Add(1)
		echo(p, f)
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d := zmq4.NewDealer(ctx, zmq4.WithID(zmq4.SocketIdentity("zmq4-dealer")), zmq4.WithTimeout(10*time.Second))
	defer d.Close()
	if err := d.Dial(r.Endpoint()); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("q"), 100<<10)
	msgs := [][][]byte{
		{[]byte("hello")},
		{[]byte("a"), {}, []byte("c")},
		{bytes.Repeat([]byte("x"), 300)},
		{[]byte("big"), big},
	}
	for i := range 50 {
		msgs = append(msgs, [][]byte{[]byte("seq"), []byte(fmt.Sprint(i))})
	}
	for _, m := range msgs {
		if err := d.Send(zmq4.NewMsgFrom(m...)); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range msgs {
		got, err := d.Recv()
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if len(got.Frames) != len(want) {
			t.Fatalf("reply %d: %d frames, want %d", i, len(got.Frames), len(want))
		}
		for j := range want {
			if !bytes.Equal(got.Frames[j], want[j]) {
				t.Fatalf("reply %d frame %d differs", i, j)
			}
		}
	}
	if n.Load() != int64(len(msgs)) {
		t.Fatalf("router saw %d messages, want %d", n.Load(), len(msgs))
	}
	if id := onlyLink(t, r).Conn().PeerMetadata().Get("Identity"); id != "zmq4-dealer" {
		t.Fatalf("identity %q", id)
	}
}

// TestInteropZmq4SubToPub subscribes a go-zeromq/zmq4 SUB to our Pub.
func TestInteropZmq4SubToPub(t *testing.T) {
	p := startPub(t, "tcp://127.0.0.1:0", PubConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sub := zmq4.NewSub(ctx)
	if err := sub.SetOption(zmq4.OptionSubscribe, "keep."); err != nil {
		t.Fatal(err)
	}
	if err := sub.Dial(p.Endpoint()); err != nil {
		sub.Close()
		t.Fatal(err)
	}
	const want = 20
	type result struct {
		msgs [][][]byte
		err  error
	}
	res := make(chan result, 1)
	go func() {
		var r result
		for len(r.msgs) < want {
			m, err := sub.Recv()
			if err != nil {
				r.err = err
				break
			}
			r.msgs = append(r.msgs, m.Frames)
		}
		res <- r
	}()
	defer func() {
		sub.Close()
		cancel()
	}()

	waitFor(t, 10*time.Second, func() bool { return p.Stats().Subscribers == 1 })
	// The subscription follows the handshake asynchronously: publish
	// until zmq4 has seen enough. Non-matching topics must never be
	// sent (matched == 0).
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var r result
	for i := 0; ; i++ {
		select {
		case r = <-res:
		case <-tick.C:
			for _, topic := range []string{"drop.x", "keep", "Keep.x"} {
				if m, _ := p.Publish([][]byte{[]byte(topic), []byte("no")}); m != 0 {
					t.Fatalf("topic %q matched %d", topic, m)
				}
			}
			topic := fmt.Sprintf("keep.%d", i)
			p.Publish([][]byte{[]byte(topic), []byte("payload:" + topic)})
			continue
		case <-ctx.Done():
			t.Fatal("zmq4 SUB received too little")
		}
		break
	}
	if r.err != nil {
		t.Fatalf("zmq4 Recv after %d messages: %v", len(r.msgs), r.err)
	}
	for _, m := range r.msgs {
		if len(m) != 2 || !bytes.HasPrefix(m[0], []byte("keep.")) || string(m[1]) != "payload:"+string(m[0]) {
			t.Fatalf("unexpected message %q", m)
		}
	}
}
