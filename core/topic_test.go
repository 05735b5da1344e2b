package core

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// Publish/subscribe across peers, over every transport.

func TestTopicExactAndPrefix(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		pub, cli := e.peer("sensors"), e.peer("reader")
		for _, topic := range []string{"sensors/temp", "sensors/temp2", "sensors/hum", "other"} {
			mustAdvertise(t, pub, topic)
		}
		exact := e.subscribe(cli, "sensors/temp")
		prefix := e.subscribe(cli, "sensors/", AsPrefix())
		all := e.subscribe(cli, "", AsPrefix())
		ctx := e.ctx(20 * time.Second)
		for _, s := range []*Subscription{exact, prefix, all} {
			waitConnected(t, ctx, s, 1)
		}
		sent := []struct{ topic, data string }{
			{"sensors/temp2", "a"}, {"other", "b"}, {"sensors/hum", "c"}, {"sensors/temp", "d"},
		}
		for _, m := range sent {
			mustPublish(t, pub, m.topic, []byte(m.data))
		}
		// One connection carries all three in publishing order, so
		// when the last message arrives every earlier match has too.
		expectTopics(t, exact, "sensors/temp=d")
		expectTopics(t, prefix, "sensors/temp2=a", "sensors/hum=c", "sensors/temp=d")
		expectTopics(t, all, "sensors/temp2=a", "other=b", "sensors/hum=c", "sensors/temp=d")
	})
}

// expectTopics reads len(want) messages, "topic=data" each, and then
// checks that nothing else is queued.
func expectTopics(t *testing.T, s *Subscription, want ...string) {
	t.Helper()
	for i, w := range want {
		m := nextMsg(t, s)
		if got := m.Topic + "=" + string(m.Data); got != w {
			t.Fatalf("subscription %q message %d = %s, want %s", s.Topic(), i, got, w)
		}
	}
	if st := s.Stats(); st.Queued != 0 || st.Received != uint64(len(want)) {
		t.Fatalf("subscription %q: %+v after its %d messages", s.Topic(), st, len(want))
	}
}

func TestTopicOrderSeqPublisher(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		pub, cli := e.peer("talker"), e.peer("listener")
		mustAdvertise(t, pub, "chat")
		sub := e.subscribe(cli, "chat")
		waitConnected(t, e.ctx(20*time.Second), sub, 1)
		const n = 200
		for i := range n {
			mustPublish(t, pub, "chat", fmt.Appendf(nil, "m%d", i))
		}
		for i := range n {
			m := nextMsg(t, sub)
			if m.Seq != uint64(i+1) || m.Publisher != "talker" || m.Topic != "chat" || string(m.Data) != fmt.Sprintf("m%d", i) {
				t.Fatalf("message %d = %+v (data %q)", i, m, m.Data)
			}
		}
		if st := sub.Stats(); st.Received != n || st.Dropped != 0 || st.Missed != 0 || st.Publishers != 1 {
			t.Fatalf("subscription stats %+v", st)
		}
		if st := topicCounters(pub, "chat"); st.Published != n || st.Delivered != n || st.Dropped != 0 {
			t.Fatalf("topic stats %+v", st)
		}
	})
}

func TestTopicTwoPublishers(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		a, b, cli := e.peer("pub-a"), e.peer("pub-b"), e.peer("listener")
		mustAdvertise(t, a, "t")
		mustAdvertise(t, b, "t")
		sub := e.subscribe(cli, "t")
		waitConnected(t, e.ctx(20*time.Second), sub, 2)
		const n = 50
		for range n {
			mustPublish(t, a, "t", []byte("a"))
			mustPublish(t, b, "t", []byte("b"))
		}
		last := map[string]uint64{}
		for range 2 * n {
			m := nextMsg(t, sub)
			if m.Seq != last[m.Publisher]+1 || string(m.Data) != m.Publisher[len("pub-"):] {
				t.Fatalf("message %+v after seq %d of %s", m, last[m.Publisher], m.Publisher)
			}
			last[m.Publisher] = m.Seq
		}
		if last["pub-a"] != n || last["pub-b"] != n {
			t.Fatalf("last sequence numbers %v, want %d from each", last, n)
		}
	})
}

func TestTopicSubscribeAfterPublisherStarted(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		pub := e.peer("early")
		for range 5 {
			mustPublish(t, pub, "news", []byte("unheard"))
		}
		cli := e.peer("late")
		sub := e.subscribe(cli, "news")
		waitConnected(t, e.ctx(20*time.Second), sub, 1)
		mustPublish(t, pub, "news", []byte("heard"))
		if m := nextMsg(t, sub); m.Seq != 6 || string(m.Data) != "heard" {
			t.Fatalf("first message after subscribing: %+v", m)
		}
		if st := topicCounters(pub, "news"); st.Published != 6 || st.Delivered != 1 {
			t.Fatalf("topic stats %+v, want 6 published, 1 delivered", st)
		}
	})
}

func TestTopicCloseStopsDelivery(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		pub, cli := e.peer("talker"), e.peer("listener")
		mustAdvertise(t, pub, "t")
		s1, s2 := e.subscribe(cli, "t"), e.subscribe(cli, "t")
		ctx := e.ctx(20 * time.Second)
		waitConnected(t, ctx, s1, 1)
		waitConnected(t, ctx, s2, 1)
		mustPublish(t, pub, "t", []byte("x"))
		nextMsg(t, s1)
		nextMsg(t, s2)

		if err := s1.Close(); err != nil {
			t.Fatal(err)
		}
		if _, ok := <-s1.C(); ok {
			t.Fatal("C() of a closed subscription delivered a message")
		}
		if _, err := s1.Next(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("Next after Close: %v, want ErrClosed", err)
		}
		if err := s1.WaitConnected(ctx, 1); !errors.Is(err, ErrClosed) {
			t.Fatalf("WaitConnected after Close: %v, want ErrClosed", err)
		}
		if err := s1.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		// The other subscription of the same topic keeps receiving.
		mustPublish(t, pub, "t", []byte("y"))
		if m := nextMsg(t, s2); string(m.Data) != "y" {
			t.Fatalf("remaining subscription got %q", m.Data)
		}
		if st := s1.Stats(); st.Received != 1 {
			t.Fatalf("closed subscription received %d messages, want 1", st.Received)
		}

		s2.Close()
		// The cancel reaches the publisher asynchronously: from then on
		// its messages match no subscriber at all.
		waitCond(t, 10*time.Second, "the publisher to drop the subscription", func() bool {
			before := topicCounters(pub, "t")
			mustPublish(t, pub, "t", []byte("z"))
			after := topicCounters(pub, "t")
			return after.Delivered == before.Delivered && after.Dropped == before.Dropped
		})
		if subs := cli.Stats().Subscriptions; len(subs) != 0 {
			t.Fatalf("closed subscriptions still listed: %+v", subs)
		}
	})
}

func TestTopicQueueOverflow(t *testing.T) {
	policies := []struct {
		name      string
		policy    Overflow
		firstSeq  uint64
		wantDrops uint64
	}{
		{"drop-newest", DropNewest, 1, 90},
		{"drop-oldest", DropOldest, 91, 90},
	}
	for _, pc := range policies {
		t.Run(pc.name, func(t *testing.T) {
			eachTransport(t, func(t *testing.T, e *tenv) {
				pub, cli := e.peer("talker"), e.peer("listener")
				mustAdvertise(t, pub, "t")
				sub := e.subscribe(cli, "t", WithQueue(10, pc.policy))
				waitConnected(t, e.ctx(20*time.Second), sub, 1)
				const n = 100
				for range n {
					mustPublish(t, pub, "t", nil)
				}
				waitCond(t, 10*time.Second, "every message to be received or dropped", func() bool {
					st := sub.Stats()
					return st.Received+st.Dropped >= n
				})
				st := sub.Stats()
				if st.Received+st.Dropped != n || st.Dropped != pc.wantDrops || st.Queued != 10 || st.Missed != 0 {
					t.Fatalf("stats %+v after %d messages into a queue of 10", st, n)
				}
				for i := range uint64(10) {
					if m := nextMsg(t, sub); m.Seq != pc.firstSeq+i {
						t.Fatalf("message %d has seq %d, want %d", i, m.Seq, pc.firstSeq+i)
					}
				}
				if q := sub.Stats().Queued; q != 0 {
					t.Fatalf("%d messages left after reading the 10 kept", q)
				}
			})
		})
	}
}

// TestTopicPublisherDropsAccounted checks that every sequence number
// sent is, exactly once, either read, dropped by the subscription's
// queue or counted missed (dropped by the publisher's queue).
func TestTopicPublisherDropsAccounted(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		pub := e.peer("talker", WithPublishQueue(4, DropNewest))
		// No heartbeats: the subscriber's connection is stalled below.
		cli := e.peer("listener", WithHeartbeat(0, 0))
		mustAdvertise(t, pub, "t")
		sub := e.subscribe(cli, "t", WithQueue(16, DropNewest))
		waitConnected(t, e.ctx(20*time.Second), sub, 1)
		data := make([]byte, 1024)
		mustPublish(t, pub, "t", data)
		read := []uint64{nextMsg(t, sub).Seq} // a first message, so that later gaps are seen

		sent := 1 + publishToStalled(t, pub, sub, data)
		arrived := func() bool {
			st := sub.Stats()
			return st.Received+st.Dropped == topicCounters(pub, "t").Delivered
		}
		waitCond(t, 20*time.Second, "every queued message to arrive", arrived)
		for sub.Stats().Queued > 0 {
			read = append(read, nextMsg(t, sub).Seq)
		}
		// A last message, not dropped anywhere, reveals any gap at the end.
		for {
			before := topicCounters(pub, "t").Dropped
			mustPublish(t, pub, "t", data)
			sent++
			if topicCounters(pub, "t").Dropped == before {
				break
			}
			waitCond(t, 20*time.Second, "the publisher's queue to drain", arrived)
		}
		if m := nextMsg(t, sub); m.Seq != sent {
			t.Fatalf("last message has seq %d, want %d", m.Seq, sent)
		} else {
			read = append(read, m.Seq)
		}
		for i := 1; i < len(read); i++ {
			if read[i] <= read[i-1] {
				t.Fatalf("seq %d read after %d", read[i], read[i-1])
			}
		}
		st, ts := sub.Stats(), topicCounters(pub, "t")
		t.Logf("sent %d: read %d, subscription dropped %d, missed %d; publisher delivered %d, dropped %d",
			sent, len(read), st.Dropped, st.Missed, ts.Delivered, ts.Dropped)
		if uint64(len(read))+st.Dropped+st.Missed != sent || st.Received != uint64(len(read)) {
			t.Fatalf("read %d + dropped %d + missed %d != %d sent (received %d)", len(read), st.Dropped, st.Missed, sent, st.Received)
		}
		if st.Missed != ts.Dropped || ts.Published != sent || ts.Delivered+ts.Dropped != sent {
			t.Fatalf("subscriber missed %d, publisher %+v, sent %d", st.Missed, ts, sent)
		}
		if st.Dropped == 0 {
			t.Fatal("the subscription's queue of 16 never overflowed")
		}
	})
}

// publishToStalled stalls sub's connection (its reader waits for the
// subscription) and publishes data on "t" until the publisher has
// dropped 100 messages and queued 50, enough to overflow sub's queue
// once the connection resumes. It returns how many it published.
func publishToStalled(t *testing.T, pub *Peer, sub *Subscription, data []byte) uint64 {
	t.Helper()
	sub.pushMu.Lock()
	defer sub.pushMu.Unlock()
	var sent uint64
	for ts := topicCounters(pub, "t"); ts.Dropped < 100 || ts.Delivered < 50; ts = topicCounters(pub, "t") {
		if sent > 500_000 {
			t.Fatalf("after %d messages to a stalled subscriber: %+v", sent, ts)
		}
		mustPublish(t, pub, "t", data)
		sent++
	}
	return sent
}

func TestTopicPublisherRestart(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		first, cli := e.peer("restarter"), e.peer("listener")
		mustAdvertise(t, first, "t")
		sub := e.subscribe(cli, "t")
		waitConnected(t, e.ctx(20*time.Second), sub, 1)
		mustPublish(t, first, "t", []byte("one"))
		if m := nextMsg(t, sub); string(m.Data) != "one" {
			t.Fatalf("got %q", m.Data)
		}
		if err := first.Close(); err != nil {
			t.Fatal(err)
		}
		second := e.peer("restarter")
		mustAdvertise(t, second, "t")
		// Nothing tells the subscriber: it finds the new instance in the
		// registry. Publish until a message gets through.
		var got Message
		waitCond(t, 15*time.Second, "a message from the restarted publisher", func() bool {
			mustPublish(t, second, "t", []byte("two"))
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			m, err := sub.Next(ctx)
			got = m
			return err == nil
		})
		if string(got.Data) != "two" || got.Publisher != "restarter" || got.Seq < 1 {
			t.Fatalf("message after restart: %+v", got)
		}
		// Later probes may still be on their way; then "three" follows
		// them without a gap.
		mustPublish(t, second, "t", []byte("three"))
		for prev := got.Seq; ; {
			m := nextMsg(t, sub)
			if m.Seq != prev+1 || (string(m.Data) != "two" && string(m.Data) != "three") {
				t.Fatalf("message %+v after seq %d", m, prev)
			}
			if string(m.Data) == "three" {
				break
			}
			prev = m.Seq
		}
	})
}

// Unadvertise takes a topic out of the registry entry; WithMaxTopics
// bounds what a peer advertises, Publish included.
func TestTopicUnadvertiseAndLimit(t *testing.T) {
	e := newTenv(t, TCP)
	pub := e.peer("pub", WithMaxTopics(2))
	mustAdvertise(t, pub, "a")
	mustPublish(t, pub, "b", []byte("x"))
	if err := pub.Publish("c", []byte("x")); !errors.Is(err, ErrTooManyTopics) {
		t.Fatalf("Publish on a third topic: %v, want ErrTooManyTopics", err)
	}
	if err := pub.Advertise("c"); !errors.Is(err, ErrTooManyTopics) {
		t.Fatalf("Advertise of a third topic: %v, want ErrTooManyTopics", err)
	}
	ctx := e.ctx(10 * time.Second)
	waitCond(t, 5*time.Second, "b in the registry", func() bool {
		n, err := Lookup(ctx, e.reg, "pub")
		return err == nil && n.Publishes("b")
	})
	if err := pub.Unadvertise("a"); err != nil {
		t.Fatal(err)
	}
	if n, err := Lookup(ctx, e.reg, "pub"); err != nil || n.Publishes("a") || !n.Publishes("b") {
		t.Fatalf("after Unadvertise(a): topics %v, %v", n.Topics, err)
	}
	if err := pub.Advertise("c"); err != nil {
		t.Fatalf("Advertise after Unadvertise made room: %v", err)
	}
	if err := pub.Unadvertise("never"); err != nil {
		t.Fatalf("Unadvertise of an unknown topic: %v", err)
	}
}
