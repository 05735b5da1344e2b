package core

import (
	"context"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// Benchmarks for `make bench`. Each zmp case has a raw Go TCP
// counterpart measured in the same run, so ratios are meaningful.

func benchPeers(b *testing.B, t Transport, extra ...Option) (srv, cli *Peer) {
	b.Helper()
	ctx := context.Background()
	reg := NewMemRegistry()
	opts := append([]Option{WithRegistry(reg), WithTransport(t)}, extra...)
	if t == IPC {
		opts = append(opts, WithRuntimeDir(b.TempDir()))
	}
	srv, err := NewPeer(ctx, "bench-srv", opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	err = srv.HandleFunc("echo", func(_ context.Context, r *Request) ([]byte, error) { return r.Body, nil })
	if err != nil {
		b.Fatal(err)
	}
	cli, err = NewPeer(ctx, "bench-cli", opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cli.Close() })
	if _, err := cli.Call(ctx, "echo", []byte("warm")); err != nil {
		b.Fatal(err)
	}
	return srv, cli
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(float64(len(lat)-1)*p)].Nanoseconds()) / 1e3
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(pct(0.999), "p99.9-µs")
}

func benchCallLatency(b *testing.B, t Transport, extra ...Option) {
	_, cli := benchPeers(b, t, extra...)
	ctx := context.Background()
	msg := make([]byte, 64)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := cli.Call(ctx, "echo", msg); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportLatency(b, lat)
}

// BenchmarkCallLatency: one 64-byte call at a time.
func BenchmarkCallLatency(b *testing.B) {
	b.Run("tcp", func(b *testing.B) { benchCallLatency(b, TCP) })
	b.Run("ipc", func(b *testing.B) { benchCallLatency(b, IPC) })
}

// BenchmarkCallsInFlight: 64-byte calls from 64 goroutines at once.
func BenchmarkCallsInFlight64(b *testing.B) { benchCallsInFlight64(b) }

func benchCallsInFlight64(b *testing.B, extra ...Option) {
	_, cli := benchPeers(b, TCP, extra...)
	ctx := context.Background()
	msg := make([]byte, 64)
	const inFlight = 64
	var wg sync.WaitGroup
	next := make(chan struct{}, b.N)
	for range b.N {
		next <- struct{}{}
	}
	close(next)
	b.ResetTimer()
	start := time.Now()
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				if _, err := cli.Call(ctx, "echo", msg); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
}

// BenchmarkPublish64B: one publisher, one subscriber in another peer;
// reports messages delivered per second and how many were dropped.
func BenchmarkPublish64B(b *testing.B) { benchPublish64B(b) }

func benchPublish64B(b *testing.B, extra ...Option) {
	srv, cli := benchPeers(b, TCP, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.Advertise("bench"); err != nil {
		b.Fatal(err)
	}
	sub, err := cli.Subscribe("bench", WithQueue(1<<16, DropNewest))
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	if err := sub.WaitConnected(ctx, 1); err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 64)
	done := make(chan int)
	go func() {
		n := 0
		for range sub.C() {
			if n++; n == b.N {
				break
			}
		}
		done <- n
	}()
	dropped := &srv.topics.get("bench").stats.dropped
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		for {
			// Pace by the publisher queue so that the figure is of
			// delivered messages, not of drops.
			before := dropped.Load()
			srv.Publish("bench", msg)
			if dropped.Load() == before {
				break
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	var got int
	select {
	case got = <-done:
	case <-ctx.Done():
		b.Fatalf("delivered %d of %d", sub.Stats().Received, b.N)
	}
	b.ReportMetric(float64(got)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkSecurity: the cost of CURVE (and PLAIN, which adds nothing
// after the handshake) next to NULL in the same run, over TCP.
func BenchmarkSecurity(b *testing.B) {
	mechs := []struct {
		name string
		opt  func(b *testing.B) []Option
	}{
		{"NULL", func(*testing.B) []Option { return nil }},
		{"PLAIN", func(b *testing.B) []Option {
			auth, _ := NewAuthenticator(AllowUser("bench", "pw"))
			return []Option{WithSecurity(Plain("bench", "pw", auth))}
		}},
		{"CURVE", func(b *testing.B) []Option {
			kp, err := GenerateKeyPair()
			if err != nil {
				b.Fatal(err)
			}
			auth, _ := NewAuthenticator(AllowKeys(kp.Public))
			return []Option{WithSecurity(Curve(kp, auth))} // both peers share the pair: only the cost matters here
		}},
	}
	for _, m := range mechs {
		b.Run(m.name+"/latency", func(b *testing.B) { benchCallLatency(b, TCP, m.opt(b)...) })
		b.Run(m.name+"/inflight64", func(b *testing.B) { benchCallsInFlight64(b, m.opt(b)...) })
		b.Run(m.name+"/publish64B", func(b *testing.B) { benchPublish64B(b, m.opt(b)...) })
	}
}

// --- raw Go TCP baselines, same run ---

func dialRaw(b *testing.B, addr string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkRawTCPEcho: 64-byte echo round trip, one write per message.
func BenchmarkRawTCPEcho(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	c := dialRaw(b, ln.Addr().String())
	b.Cleanup(func() { c.Close(); ln.Close(); wg.Wait() })
	buf := make([]byte, 64)
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportLatency(b, lat)
}

// BenchmarkRawTCPOneWay64B: 64-byte messages, one write each, read
// by a receiver in 64-byte units.
func BenchmarkRawTCPOneWay64B(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	got := make(chan int, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- 0
			return
		}
		defer c.Close()
		buf := make([]byte, 64)
		n := 0
		for n < b.N {
			if _, err := io.ReadFull(c, buf); err != nil {
				break
			}
			n++
		}
		got <- n
	}()
	c := dialRaw(b, ln.Addr().String())
	b.Cleanup(func() { ln.Close() })
	buf := make([]byte, 64)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	n := <-got
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkInterceptors: the cost of one no-op interceptor per call, on
// each side and both, next to none (the default path), one call at a
// time and with 64 in flight.
func BenchmarkInterceptors(b *testing.B) {
	noopServer := func(ctx context.Context, r *Request, next Handler) ([]byte, error) { return next.ServeRPC(ctx, r) }
	noopCall := func(ctx context.Context, c *CallInfo, next Invoker) ([]byte, error) { return next(ctx, c) }
	cases := []struct {
		name string
		opts []Option
	}{
		{"none", nil},
		{"server", []Option{WithServerInterceptors(noopServer)}},
		{"call", []Option{WithCallInterceptors(noopCall)}},
		{"both", []Option{WithServerInterceptors(noopServer), WithCallInterceptors(noopCall)}},
	}
	for _, c := range cases {
		b.Run(c.name+"/latency", func(b *testing.B) { benchCallLatency(b, TCP, c.opts...) })
	}
	for _, c := range cases {
		b.Run(c.name+"/inflight64", func(b *testing.B) { benchCallsInFlight64(b, c.opts...) })
	}
}
