package cache

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// benchPair is memoPair for benchmarks: a provider of "svc" and a
// caller with the memo, if any, on the caller's side.
func benchPair(b *testing.B, m *Memo, popts ...core.Option) (*counted, *core.Peer) {
	e := newMenv(b, core.TCP)
	svc := &counted{}
	p := e.peer("provider", popts...)
	if err := p.HandleFunc("svc", svc.handle); err != nil {
		b.Fatal(err)
	}
	var copts []core.Option
	if m != nil {
		copts = append(copts, core.WithCallInterceptors(m.Client()))
	}
	return svc, e.peer("caller", copts...)
}

// timeEach times each of b.N calls and reports the median and p99.
func timeEach(b *testing.B, f func()) {
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		f()
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkMemoClientHit is a call answered by a client-side memo,
// next to the same call to the provider without one (Uncached).
func BenchmarkMemoClientHit(b *testing.B) {
	ctx := context.Background()
	body := []byte("a request of some 40 bytes, like a key")
	b.Run("Hit", func(b *testing.B) {
		m := newMemo(b, MemoTTL(time.Hour))
		_, cli := benchPair(b, m)
		if _, err := cli.Call(ctx, "svc", body); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		timeEach(b, func() {
			if _, err := cli.Call(ctx, "svc", body); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("Uncached", func(b *testing.B) {
		_, cli := benchPair(b, nil)
		if _, err := cli.Call(ctx, "svc", body); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		timeEach(b, func() {
			if _, err := cli.Call(ctx, "svc", body); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// BenchmarkMemoCollapse: each op is 1000 concurrent cold calls of one
// key through a client-side memo; backend-runs/op is the number of
// times the service ran for them (the goal is exactly 1).
func BenchmarkMemoCollapse(b *testing.B) {
	m := newMemo(b, MemoTTL(time.Hour))
	svc, cli := benchPair(b, m)
	ctx := context.Background()
	const n = 1000
	b.ResetTimer()
	for i := range b.N {
		key := []byte(fmt.Sprint("cold-", i))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if _, err := cli.Call(ctx, "svc", key); err != nil {
					b.Error(err)
				}
			}()
		}
		close(start)
		wg.Wait()
	}
	b.StopTimer()
	b.ReportMetric(float64(svc.runs.Load())/float64(b.N), "backend-runs/op")
}
