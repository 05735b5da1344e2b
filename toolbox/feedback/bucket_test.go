package feedback

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"
)

func pjNewLimiter(t *testing.T, r float64, burst int, opts ...RateOption) *RateLimiter {
	t.Helper()
	l, err := NewRateLimiter(r, burst, opts...)
	if err != nil {
		t.Fatalf("NewRateLimiter: %v", err)
	}
	return l
}

func TestRateLimiterSetRateTakesEffect(t *testing.T) {
	// At one token per 1000 s the bucket's one token is the only one.
	l := pjNewLimiter(t, 0.001, 1)
	if !l.Allow() {
		t.Fatal("first Allow refused with a full bucket")
	}
	if l.Allow() {
		t.Fatal("second Allow admitted at 0.001/s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Wait(ctx); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("Wait at 0.001/s with a 10 s deadline: %v, want ErrRateLimited", err)
	}

	if got := l.SetRate(1000); got != 1000 {
		t.Fatalf("SetRate(1000) applied %v", got)
	}
	start := time.Now()
	for i := 0; i < 5; i++ {
		if err := l.Wait(ctx); err != nil {
			t.Fatalf("Wait %d at 1000/s: %v", i, err)
		}
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("5 tokens at 1000/s took %v", el)
	}

	l.SetRate(0.001)
	// Burst 1: at most the one token refilled at 1000/s remains, and
	// none follows it.
	admitted := 0
	for l.Allow() {
		if admitted++; admitted > 1 {
			t.Fatal("Allow keeps admitting after SetRate(0.001)")
		}
	}
	s := l.Stats()
	if s.Allowed+s.Waited != uint64(6+admitted) || s.Denied != 3 || s.RateChanges != 2 || s.RateClamped != 0 {
		t.Fatalf("stats %+v, want %d admitted, 3 denied, 2 changes", s, 6+admitted)
	}
}

func TestRateLimiterBounds(t *testing.T) {
	l := pjNewLimiter(t, 10, 1, WithRateBounds(1, 100))
	for _, c := range []struct{ in, want float64 }{
		{1e9, 100}, {0.5, 1}, {50, 50}, {math.Inf(1), 100}, {-3, 1}, {math.NaN(), 1},
	} {
		if got := l.SetRate(c.in); got != c.want {
			t.Errorf("SetRate(%v) = %v, want %v", c.in, got, c.want)
		}
		if l.Rate() != c.want {
			t.Errorf("Rate() after SetRate(%v) = %v, want %v", c.in, l.Rate(), c.want)
		}
	}
	if s := l.Stats(); s.RateChanges != 6 || s.RateClamped != 5 || s.Burst != 1 {
		t.Fatalf("stats %+v, want 6 changes, 5 clamped", s)
	}
}

func TestRateLimiterInfiniteRate(t *testing.T) {
	l := pjNewLimiter(t, 1, 1)
	l.SetRate(math.Inf(1))
	for i := 0; i < 1000; i++ {
		if !l.Allow() {
			t.Fatalf("Allow %d refused at an infinite rate", i)
		}
	}
	if !math.IsInf(l.Rate(), 1) {
		t.Fatalf("Rate() = %v, want +Inf", l.Rate())
	}
}

func TestRateLimiterZeroRateRefusesWait(t *testing.T) {
	l := pjNewLimiter(t, 0, 1)
	if !l.Allow() {
		t.Fatal("the full bucket refused")
	}
	if err := l.Wait(context.Background()); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("Wait at rate 0: %v, want ErrRateLimited", err)
	}
	l.SetRate(1000)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Wait(ctx); err != nil {
		t.Fatalf("Wait after SetRate(1000): %v", err)
	}
}

func TestRateLimiterWaitCancelled(t *testing.T) {
	l := pjNewLimiter(t, 0.001, 1)
	l.Allow()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx) }()
	// Wait is blocked (its token is 1000 s away) until cancelled.
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v before the cancel", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, ErrRateLimited) || !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Wait: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after the cancel")
	}
	if err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on an ended context: %v", err)
	}
	// The cancelled reservation gave its token back: at 1000/s the next
	// one comes at once, not after 1000 s of debt.
	l.SetRate(1000)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := l.Wait(ctx2); err != nil {
		t.Fatalf("Wait after the cancelled one: %v", err)
	}
	if s := l.Stats(); s.Denied != 2 {
		t.Fatalf("denied %d, want 2", s.Denied)
	}
}

func TestRateLimiterConcurrent(t *testing.T) {
	l := pjNewLimiter(t, 1e6, 10, WithRateBounds(1, 1e6))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if g == 0 {
					l.SetRate(float64(1e5 + i))
				}
				l.Allow()
				if err := l.Wait(ctx); err != nil {
					t.Errorf("Wait: %v", err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	s := l.Stats()
	if got := s.Allowed + s.Waited + s.Denied; got != 4*200*2 {
		t.Fatalf("counted %d admissions and refusals, want %d", got, 4*200*2)
	}
}

func TestRateLimiterOptionValidation(t *testing.T) {
	for _, c := range []struct {
		name  string
		rate  float64
		burst int
		opts  []RateOption
	}{
		{"NaN rate", math.NaN(), 1, nil},
		{"negative rate", -1, 1, nil},
		{"zero burst", 1, 0, nil},
		{"rate below bounds", 0.5, 1, []RateOption{WithRateBounds(1, 2)}},
		{"rate above bounds", 3, 1, []RateOption{WithRateBounds(1, 2)}},
		{"inverted bounds", 1, 1, []RateOption{WithRateBounds(2, 1)}},
		{"negative min", 1, 1, []RateOption{WithRateBounds(-1, 2)}},
		{"NaN max", 1, 1, []RateOption{WithRateBounds(0, math.NaN())}},
		{"infinite min", 1, 1, []RateOption{WithRateBounds(math.Inf(1), math.Inf(1))}},
	} {
		if _, err := NewRateLimiter(c.rate, c.burst, c.opts...); !errors.Is(err, ErrInvalidRateOption) {
			t.Errorf("%s: err = %v, want ErrInvalidRateOption", c.name, err)
		}
	}
}
