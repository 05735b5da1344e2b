package core

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// byName is a test balancer that sends calls to the provider named
// first while it is connected.
type byName struct{ first string }

func (b byName) Pick(_ string, ps []Provider) int {
	for i, p := range ps {
		if p.Node().Name == b.first {
			return i
		}
	}
	return 0
}

// TestRetryIdempotentSurvivesKill: an idempotent call whose provider is
// SIGKILLed while it runs the call succeeds on the other provider
// within its deadline; a call not marked idempotent fails with
// ErrConnectionLost and is never sent to the other provider.
func TestRetryIdempotentSurvivesKill(t *testing.T) {
	e := newNodeEnv(t)
	var runs atomic.Int64
	other := e.inproc("retry-other", Behavior{Setup: func(_ context.Context, p *Peer) error {
		return p.HandleFunc("work", func(context.Context, *Request) ([]byte, error) {
			runs.Add(1)
			return []byte("other"), nil
		})
	}})
	e.start(other)
	cli := e.client()
	for _, idempotent := range []bool{true, false} {
		name := "retry-victim-idem"
		if !idempotent {
			name = "retry-victim-once"
		}
		victim := e.started(modeChild, "retry-block", name)
		if _, err := Discover(e.ctx, e.reg, "work", 2); err != nil {
			t.Fatal(err)
		}
		// Connect to the victim first, so that the balancer finds it up.
		if _, err := cli.Call(e.ctx, "zmp.ping", nil, OnNode(name)); err != nil {
			t.Fatal(err)
		}
		before := runs.Load()
		opts := []CallOption{Balance(byName{name})}
		if idempotent {
			opts = append(opts, Idempotent())
		}
		ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
		type res struct {
			body []byte
			err  error
			took time.Duration
		}
		done := make(chan res, 1)
		go func() {
			t0 := time.Now()
			b, err := cli.Call(ctx, "work", []byte("job"), opts...)
			done <- res{b, err, time.Since(t0)}
		}()
		mark := markPath(e.dir, name, "started")
		waitCond(t, 15*time.Second, name+" to start the call", func() bool { _, err := os.Stat(mark); return err == nil })
		if err := killNode(victim); err != nil {
			t.Fatal(err)
		}
		r := <-done
		cancel()
		t.Logf("idempotent=%v: after SIGKILL of the provider running it: %q, %v, in %v", idempotent, r.body, r.err, r.took.Round(time.Millisecond))
		if idempotent {
			if r.err != nil || string(r.body) != "other" {
				t.Fatalf("idempotent call: %q, %v; want the other provider's reply", r.body, r.err)
			}
			if n := runs.Load() - before; n != 1 {
				t.Fatalf("the other provider ran the call %d times, want 1", n)
			}
		} else {
			if !errors.Is(r.err, ErrConnectionLost) {
				t.Fatalf("call not marked idempotent: %v, want ErrConnectionLost", r.err)
			}
			if n := runs.Load() - before; n != 0 {
				t.Fatalf("a call not marked idempotent ran again on the other provider (%d runs)", n)
			}
		}
	}
}

// TestRetryOverloadedIdempotent: a provider that sheds a call
// (CodeOverloaded) makes an idempotent call move to another provider;
// others get the error; the attempts are bounded by WithRetry.
func TestRetryOverloadedIdempotent(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		var shed atomic.Int64
		busy := e.peer("rt-busy", WithServerInterceptors(func(ctx context.Context, r *Request, next Handler) ([]byte, error) {
			shed.Add(1)
			return nil, NewError(CodeOverloaded, "shed")
		}))
		provideEcho(t, busy, "echo")
		cli := e.peer("rt-cli", WithRetry(RetryPolicy{MaxAttempts: 4, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}))
		ctx := e.ctx(10 * time.Second)
		if _, err := Discover(ctx, e.reg, "echo", 1); err != nil {
			t.Fatal(err)
		}
		// Only the busy provider: an idempotent call tries it MaxAttempts times.
		_, err := cli.Call(ctx, "echo", []byte("x"), Idempotent())
		remoteErr(t, err, CodeOverloaded)
		if n := shed.Load(); n != 4 {
			t.Fatalf("busy provider saw %d attempts, want 4", n)
		}
		if r := cli.Stats().Client.Retries; r != 3 {
			t.Fatalf("Stats().Client.Retries = %d, want 3", r)
		}
		_, err = cli.Call(ctx, "echo", []byte("x"))
		remoteErr(t, err, CodeOverloaded)
		if n := shed.Load(); n != 5 {
			t.Fatalf("a call not marked idempotent was tried %d times, want 1", n-4)
		}
		free := e.peer("rt-free")
		provideEcho(t, free, "echo")
		if _, err := Discover(ctx, e.reg, "echo", 2); err != nil {
			t.Fatal(err)
		}
		for range 10 {
			r, err := cli.Call(ctx, "echo", []byte("y"), Idempotent(), Balance(byName{"rt-busy"}))
			if err != nil || string(r) != "y" {
				t.Fatalf("idempotent call with a free provider: %q, %v", r, err)
			}
		}
	})
}

// hedgeStall is the stall a hedging test injects into 5% of calls.
const hedgeStall = 50 * time.Millisecond

// TestHedgingCutsTail: two providers each stall 50 ms on 5% of calls.
// Hedged after 10 ms, calls have a far shorter tail than unhedged ones,
// measured in one run.
func TestHedgingCutsTail(t *testing.T) {
	e := newTenv(t, TCP)
	stall := func(ctx context.Context, r *Request, next Handler) ([]byte, error) {
		if rand.IntN(100) < 5 {
			select {
			case <-time.After(hedgeStall):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return next.ServeRPC(ctx, r)
	}
	for _, name := range []string{"hedge-a", "hedge-b"} {
		provideEcho(t, e.peer(name, WithServerInterceptors(stall)), "echo")
	}
	cli := e.peer("hedge-cli")
	ctx := e.ctx(time.Minute)
	if _, err := Discover(ctx, e.reg, "echo", 2); err != nil {
		t.Fatal(err)
	}
	const calls = 1000
	measure := func(opts ...CallOption) (p50, p99 time.Duration) {
		lat := make([]time.Duration, calls)
		for i := range lat {
			t0 := time.Now()
			if _, err := cli.Call(ctx, "echo", []byte("x"), opts...); err != nil {
				t.Fatal(err)
			}
			lat[i] = time.Since(t0)
		}
		slices.Sort(lat)
		return lat[calls/2], lat[calls*99/100]
	}
	measure() // warm: connections to both
	p50, p99 := measure()
	h0 := cli.Stats().Client.Hedges
	hp50, hp99 := measure(Hedge(10 * time.Millisecond))
	cs := cli.Stats().Client
	hedges, wins := cs.Hedges-h0, cs.HedgeWins
	t.Logf("%d calls, 5%% stalled %v: unhedged p50 %v p99 %v; hedged at 10 ms p50 %v p99 %v (%d hedges sent, %d won)",
		calls, hedgeStall, p50, p99, hp50, hp99, hedges, wins)
	if p99 < hedgeStall*9/10 {
		t.Fatalf("unhedged p99 %v: the stalls were not injected", p99)
	}
	if hp99 > p99*7/10 {
		t.Errorf("hedged p99 %v, unhedged %v: hedging did not cut the tail", hp99, p99)
	}
	if hedges == 0 || hedges > calls/4 {
		t.Errorf("%d hedges for %d calls with 5%% stalls", hedges, calls)
	}
}

// TestHedgeBeforeFirstSent: a hedge delay that passes before the first
// attempt is even sent (here: before its connection is made) does not
// send the hedge to the provider the first attempt then uses.
func TestHedgeBeforeFirstSent(t *testing.T) {
	e := newTenv(t, TCP)
	var runs atomic.Int64
	srv := e.peer("hedge-early")
	if err := srv.HandleFunc("slow", func(ctx context.Context, r *Request) ([]byte, error) {
		runs.Add(1)
		time.Sleep(50 * time.Millisecond)
		return r.Body, nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 { // each from a new peer, which has yet to connect
		cli := e.peer(fmt.Sprintf("hedge-early-cli%d", i))
		r, err := cli.Call(e.ctx(10*time.Second), "slow", []byte("z"), Hedge(time.Nanosecond))
		if err != nil || string(r) != "z" {
			t.Fatalf("hedged call: %q, %v", r, err)
		}
		if h := cli.cli.hedges.Load(); h != 0 {
			t.Fatalf("call %d: %d hedges counted with one provider", i, h)
		}
	}
	if n := runs.Load(); n != 5 {
		t.Fatalf("handler ran %d times for 5 calls: a hedge went to the only provider", n)
	}
}

// TestHedgeSingleProvider: with one provider a hedged call sends no
// copy (a hedge goes to another provider or nowhere) and still gets its
// slow reply.
func TestHedgeSingleProvider(t *testing.T) {
	e := newTenv(t, TCP)
	var runs atomic.Int64
	srv := e.peer("hedge-one")
	if err := srv.HandleFunc("slow", func(ctx context.Context, r *Request) ([]byte, error) {
		runs.Add(1)
		time.Sleep(100 * time.Millisecond)
		return r.Body, nil
	}); err != nil {
		t.Fatal(err)
	}
	cli := e.peer("hedge-one-cli")
	r, err := cli.Call(e.ctx(10*time.Second), "slow", []byte("z"), Hedge(10*time.Millisecond))
	if err != nil || string(r) != "z" {
		t.Fatalf("hedged call with one provider: %q, %v", r, err)
	}
	if n, h := runs.Load(), cli.cli.hedges.Load(); n != 1 || h != 0 {
		t.Fatalf("handler ran %d times, %d hedges counted; want 1 and 0", n, h)
	}
}
