package core

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Benchmarks of the one-way path, in one process: less noisy than
// zmpbench's two processes, and with allocation counts.

// BenchmarkSubscriberDeliver: the subscriber's work per message after
// the read (decode, sequence tracking, hand-off to the subscription's
// queue), with a reader draining the queue.
func BenchmarkSubscriberDeliver(b *testing.B) {
	ctx := context.Background()
	p, err := NewPeer(ctx, "bench-sub", WithRegistry(NewMemRegistry()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	sub, err := p.Subscribe("bench", WithQueue(8192, DropNewest))
	if err != nil {
		b.Fatal(err)
	}
	pc := &pubConn{s: p.subs, name: "pub", acked: map[string]bool{}, topics: map[string]*topicTrack{}, gen: 1}
	var got atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for range sub.C() {
			got.Add(1)
		}
	})
	topic := topicFrame("bench")
	body := make([]byte, 64)
	frames := make([][]byte, 3)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		// What the connection's reader hands over: the body is new for
		// every message, the other frames are views.
		m := dataFrames(topic, uint64(i+1), body)
		copy(frames, m)
		pc.onMessage(nil, frames)
		if i%64 == 63 {
			pc.flush(nil) // as the reader does when its input runs dry
		}
	}
	pc.flush(nil)
	b.StopTimer()
	sub.Close()
	wg.Wait()
	st := sub.Stats()
	b.ReportMetric(float64(st.Dropped)/float64(b.N), "dropped/op")
	if st.Missed != 0 {
		b.Fatalf("missed %d", st.Missed)
	}
}

// BenchmarkFanout: one publisher, N subscriber peers (a connection
// each) in this process over TCP; the publisher is paced by its drop
// counter as zmpbench's is. Reports messages delivered per second, in
// total, and the drops per published message on each side.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) { benchFanout(b, n) })
	}
}

func benchFanout(b *testing.B, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reg := NewMemRegistry()
	pub, err := NewPeer(ctx, "bench-pub", WithRegistry(reg))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pub.Close() })
	if err := pub.Advertise("bench"); err != nil {
		b.Fatal(err)
	}
	var (
		delivered atomic.Int64
		wg        sync.WaitGroup
		subs      []*Subscription
	)
	for i := range n {
		p, err := NewPeer(ctx, fmt.Sprintf("bench-sub-%d", i), WithRegistry(reg))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { p.Close() })
		sub, err := p.Subscribe("bench", WithQueue(8192, DropNewest))
		if err != nil {
			b.Fatal(err)
		}
		if err := sub.WaitConnected(ctx, 1); err != nil {
			b.Fatal(err)
		}
		subs = append(subs, sub)
		wg.Go(func() {
			for range sub.C() {
				delivered.Add(1)
			}
		})
	}
	b.Cleanup(func() {
		for _, s := range subs {
			s.Close()
		}
		wg.Wait()
	})
	msg := make([]byte, 64)
	dropped := &pub.topics.get("bench").stats.dropped
	last := dropped.Load()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		pub.Publish("bench", msg)
		if i%32 != 0 {
			continue
		}
		for d := dropped.Load(); d != last; d = dropped.Load() {
			last = d
			time.Sleep(50 * time.Microsecond)
		}
	}
	// Wait for the queues to drain: what is still in flight counts.
	want := int64(b.N) * int64(n)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		var subDropped uint64
		for _, s := range subs {
			subDropped += s.Stats().Dropped
		}
		if delivered.Load()+int64(subDropped)+int64(dropped.Load()) >= want {
			break
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	var subDropped uint64
	for _, s := range subs {
		subDropped += s.Stats().Dropped
	}
	b.ReportMetric(float64(delivered.Load())/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(dropped.Load())/float64(b.N), "pubdrops/op")
	b.ReportMetric(float64(subDropped)/float64(b.N), "subdrops/op")
}
