package feedback

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/core/coretest"
)

// sheddingService provides "work" on a peer of reg, answering
// core.CodeOverloaded to calls above the rate of its limiter.
func sheddingService(t *testing.T, reg core.Registry, capacity float64) *RateLimiter {
	t.Helper()
	lim, err := NewRateLimiter(capacity, 10)
	if err != nil {
		t.Fatal(err)
	}
	srv := coretest.NewPeer(t, "server", core.WithRegistry(reg))
	err = srv.HandleFunc("work", func(ctx context.Context, req *core.Request) ([]byte, error) {
		if !lim.Allow() {
			return nil, core.NewError(core.CodeOverloaded, "shed above %.0f/s", lim.Rate())
		}
		return []byte("done"), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	coretest.WaitProviders(t, reg, "work", 1, 10*time.Second)
	return lim
}

// callTally counts a caller's outcomes.
type callTally struct{ ok, shed, other atomic.Uint64 }

func (c *callTally) snapshot() (ok, shed uint64) { return c.ok.Load(), c.shed.Load() }

// callLoops runs workers goroutines calling "work" until ctx ends; the
// returned function waits for them.
func callLoops(ctx context.Context, p *core.Peer, workers int, pace func(context.Context) error, tally *callTally) (wait func()) {
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if pace != nil && pace(ctx) != nil {
					continue
				}
				cctx, cancel := context.WithTimeout(ctx, time.Second)
				_, err := p.Call(cctx, "work", nil)
				cancel()
				switch {
				case err == nil:
					tally.ok.Add(1)
				case errors.Is(err, core.ErrOverloaded):
					tally.shed.Add(1)
				case !errors.Is(err, ErrRateLimited):
					tally.other.Add(1)
				}
			}
		}()
	}
	return wg.Wait
}

// measureCalls returns the shed share and the answered rate over d, and
// the mean of rate() sampled every 50 ms.
func measureCalls(tally *callTally, rate func() float64, d time.Duration) (shedShare, okRate, meanRate float64) {
	ok0, shed0 := tally.snapshot()
	sum, n := 0.0, 0
	for end := time.Now().Add(d); time.Now().Before(end); n++ {
		sum += rate()
		time.Sleep(50 * time.Millisecond)
	}
	ok1, shed1 := tally.snapshot()
	okN, shedN := float64(ok1-ok0), float64(shed1-shed0)
	return shedN / math.Max(1, okN+shedN), okN / d.Seconds(), sum / float64(max(n, 1))
}

// A service that sheds above 200 calls a second: a caller at a fixed
// 1,000 a second sees most calls shed; with CallRate's loop the rate
// comes down near 200 and the shed share falls near the set point; when
// the service's capacity triples the rate rises again.
func TestRateCallConvergesToServiceCapacity(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time test")
	}
	const capacity = 200.0
	reg := coretest.NewRegistry(t)
	service := sheddingService(t, reg, capacity)

	// Without rate control: a fixed 1,000 calls a second.
	fixed, err := NewRateLimiter(1000, 10)
	if err != nil {
		t.Fatal(err)
	}
	bare := coretest.NewPeer(t, "bare", core.WithRegistry(reg))
	var bareTally callTally
	ctx, cancel := context.WithCancel(context.Background())
	wait := callLoops(ctx, bare, 8, fixed.Wait, &bareTally)
	time.Sleep(300 * time.Millisecond)
	bareShed, bareOK, _ := measureCalls(&bareTally, fixed.Rate, 1500*time.Millisecond)
	cancel()
	wait()
	t.Logf("fixed 1000/s: shed %.3f, answered %.0f/s", bareShed, bareOK)
	if bareShed < 0.5 {
		t.Fatalf("fixed-rate shed share %.3f: the service keeps up, the test proves nothing", bareShed)
	}

	bucket, err := NewRateLimiter(1000, 10, WithRateBounds(5, 5000))
	if err != nil {
		t.Fatal(err)
	}
	cr, err := NewCallRate(bucket)
	if err != nil {
		t.Fatal(err)
	}
	caller := coretest.NewPeer(t, "caller", core.WithRegistry(reg), core.WithCallInterceptors(cr.Interceptor()))
	run, err := NewRunner(cr, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	var tally callTally
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	wait = callLoops(ctx, caller, 8, nil, &tally)
	defer func() { cancel(); wait() }() // stop the senders first, even on t.Fatal

	time.Sleep(3 * time.Second)
	shed, okRate, rate := measureCalls(&tally, bucket.Rate, 2500*time.Millisecond)
	t.Logf("rate-controlled: shed %.3f, answered %.0f/s, mean rate %.0f/s (service capacity %.0f/s)", shed, okRate, rate, capacity)
	if shed > 0.15 || shed > bareShed/3 {
		t.Errorf("shed share %.3f (fixed rate %.3f), want near the set point %.2f", shed, bareShed, DefaultLossSetpoint)
	}
	if rate < 0.6*capacity || rate > 1.6*capacity {
		t.Errorf("mean rate %.0f/s for a service that takes %.0f/s", rate, capacity)
	}
	if okRate < 0.6*capacity {
		t.Errorf("answered %.0f/s of a capacity of %.0f/s", okRate, capacity)
	}

	service.SetRate(3 * capacity)
	time.Sleep(2500 * time.Millisecond)
	shed2, okRate2, rate2 := measureCalls(&tally, bucket.Rate, 2*time.Second)
	t.Logf("capacity tripled: shed %.3f, answered %.0f/s, mean rate %.0f/s", shed2, okRate2, rate2)
	if rate2 < 1.8*rate {
		t.Errorf("rate %.0f/s after the capacity tripled, was %.0f/s", rate2, rate)
	}
	cancel()
	wait()
	s := cr.Stats()
	t.Logf("call rate: %+v; other errors %d", s, tally.other.Load())
	if s.Calls == 0 || s.ShedCalls == 0 || s.Windows == 0 {
		t.Errorf("stats %+v", s)
	}
}

// Fail-fast refuses a call without a token at once, without sending it;
// a waiting call ends with its context.
func TestRateCallInterceptorWaitAndFailFast(t *testing.T) {
	reg := coretest.NewRegistry(t)
	sheddingService(t, reg, 1000)
	for _, failFast := range []bool{false, true} {
		bucket, err := NewRateLimiter(1, 1, WithRateBounds(1, 10))
		if err != nil {
			t.Fatal(err)
		}
		cr, err := NewCallRate(bucket, WithCallRateFailFast(failFast))
		if err != nil {
			t.Fatal(err)
		}
		p := coretest.NewPeer(t, "caller", core.WithRegistry(reg), core.WithCallInterceptors(cr.Interceptor()))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := p.Call(ctx, "work", nil); err != nil {
			t.Fatalf("fail-fast %v: first call: %v", failFast, err)
		}
		cancel()
		// The next token is a second away.
		ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
		start := time.Now()
		_, err = p.Call(ctx, "work", nil)
		took := time.Since(start)
		cancel()
		if !errors.Is(err, ErrRateLimited) {
			t.Errorf("fail-fast %v: second call: %v, want ErrRateLimited", failFast, err)
		}
		if took > 2*time.Second {
			t.Errorf("fail-fast %v: refusal took %v", failFast, took)
		}
		// Without a deadline, a cancelled context ends the wait.
		if !failFast {
			cctx, ccancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, ccancel)
			if _, err := p.Call(cctx, "work", nil); !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled wait: %v", err)
			}
		}
		s := cr.Stats()
		if s.Calls != 1 || s.Limited == 0 {
			t.Errorf("fail-fast %v: stats %+v, want 1 call sent and some limited", failFast, s)
		}
		p.Close()
	}
}
