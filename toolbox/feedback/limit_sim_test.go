package feedback

import (
	"slices"
	"testing"
	"time"
)

// The simulator's QueueServer has no per-request hook, so these tests
// approximate the per-request samples a Limiter expects with one
// aggregated sample per 100 ms window: the window's mean latency as
// the round trip; as the in-flight count, the limit itself when the
// window rejected arrivals (in flight reached the limit) and otherwise
// the requests in flight at the window's end; and no drop (the only refusals are the limiter's
// own, which are not samples). The limit is applied with SetLimit at
// the start of the next window.

const (
	lmWindow   = 100 * time.Millisecond
	lmCapacity = 1000.0 // 10 servers × 10 ms exponential
)

// lmRun is the outcome of driving one limiter on the 10-server plant.
type lmRun struct {
	limits []int           // limit in force after each window
	p99    []time.Duration // p99 latency of each window
	tput   []float64       // completions per second of each window
	vegas  []time.Duration // Vegas' no-load estimate after each window
}

// lmDrive runs the plant at rate for d of virtual time with lim setting
// its admission limit each window (nil: no limit).
func lmDrive(t *testing.T, seed uint64, rate float64, d time.Duration, lim Limiter) lmRun {
	t.Helper()
	sim := NewSim(seed)
	q, err := NewQueueServer(sim, QueueConfig{Servers: 10, Service: Exponential(10 * time.Millisecond), Rate: rate})
	if err != nil {
		t.Fatal(err)
	}
	var r lmRun
	for range int(d / lmWindow) {
		if lim != nil {
			q.SetLimit(lim.Limit())
		}
		s := q.Step(lmWindow)
		if lim != nil && s.Completed > 0 {
			inflight := s.InFlight
			if s.Rejected > 0 {
				inflight = max(inflight, s.Limit)
			}
			lim.OnSample(s.Mean, inflight, false)
		}
		r.p99 = append(r.p99, s.P99)
		r.tput = append(r.tput, s.Throughput)
		if lim != nil {
			r.limits = append(r.limits, lim.Limit())
		}
		if v, ok := lim.(*Vegas); ok {
			r.vegas = append(r.vegas, v.NoLoadRTT())
		}
	}
	return r
}

func lmMeanF(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func lmMeanI(xs []int) float64 {
	s := 0
	for _, x := range xs {
		s += x
	}
	return float64(s) / float64(len(xs))
}

func lmMeanD(xs []time.Duration) time.Duration {
	var s time.Duration
	for _, x := range xs {
		s += x
	}
	return s / time.Duration(len(xs))
}

// lmLimiters builds one of each limiter with the settings the tests use.
func lmLimiters(t *testing.T) map[string]Limiter {
	t.Helper()
	a, err := NewAIMD(WithTimeout(25 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVegas()
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewGradient2()
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Limiter{"AIMD": a, "Vegas": v, "Gradient2": g}
}

func TestLimitersConvergeAndCutP99AtTwiceCapacity(t *testing.T) {
	const d, warm = 60 * time.Second, 200 // windows of warm-up (20 s)
	base := lmDrive(t, 11, 2*lmCapacity, d, nil)
	baseP99 := lmMeanD(base.p99[warm:])
	for name, lim := range lmLimiters(t) {
		r := lmDrive(t, 11, 2*lmCapacity, d, lim)
		limit := lmMeanI(r.limits[warm:])
		tput := lmMeanF(r.tput[warm:])
		p99 := lmMeanD(r.p99[warm:])
		t.Logf("%s at 2× load: mean limit %.1f (min %d, max %d), goodput %.0f req/s, mean window p99 %v (unlimited %v)",
			name, limit, slices.Min(r.limits[warm:]), slices.Max(r.limits[warm:]), tput, p99, baseP99)
		if limit < 10 || limit > 40 {
			t.Errorf("%s: mean limit %.1f, want within [10, 40] (1-4× the 10 servers)", name, limit)
		}
		if tput < 0.9*lmCapacity {
			t.Errorf("%s: goodput %.0f req/s, want ≥ 90%% of %.0f", name, tput, lmCapacity)
		}
		if p99 > 100*time.Millisecond || p99*10 > baseP99 {
			t.Errorf("%s: p99 %v, want ≤ 100 ms and a tenth of the unlimited %v", name, p99, baseP99)
		}
	}
}

func TestLimitersDoNotDriftUnderModestOverload(t *testing.T) {
	const d = 11 * time.Minute
	const minute = int(time.Minute / lmWindow)
	for name, lim := range lmLimiters(t) {
		r := lmDrive(t, 23, 1.2*lmCapacity, d, lim)
		early := lmMeanI(r.limits[minute : 2*minute])
		late := lmMeanI(r.limits[len(r.limits)-minute:])
		t.Logf("%s at 1.2× load: mean limit %.1f in minute 2, %.1f in minute 11, max %d; goodput %.0f req/s",
			name, early, late, slices.Max(r.limits[minute:]), lmMeanF(r.tput[minute:]))
		if late > 1.1*early {
			t.Errorf("%s: limit drifted from %.1f to %.1f over 10 simulated minutes, want ≤ 10%% growth", name, early, late)
		}
		if lmMeanF(r.tput[minute:]) < 0.9*lmCapacity {
			t.Errorf("%s: goodput %.0f req/s under 1.2× load, want ≥ 90%% of capacity", name, lmMeanF(r.tput[minute:]))
		}
		if r.vegas != nil {
			e, l, hi := r.vegas[2*minute], r.vegas[len(r.vegas)-1], slices.Max(r.vegas[2*minute:])
			t.Logf("Vegas no-load estimate %v after 2 min, %v after 11 min, highest %v after minute 2 (service mean 10 ms)", e, l, hi)
			if hi > e*11/10 || hi > 12*time.Millisecond {
				t.Errorf("Vegas no-load estimate rose from %v to %v", e, hi)
			}
		}
	}
}

func TestLimitersDeterministic(t *testing.T) {
	for name := range lmLimiters(t) {
		a := lmDrive(t, 5, 2*lmCapacity, 10*time.Second, lmLimiters(t)[name])
		b := lmDrive(t, 5, 2*lmCapacity, 10*time.Second, lmLimiters(t)[name])
		if !slices.Equal(a.limits, b.limits) || !slices.Equal(a.p99, b.p99) {
			t.Errorf("%s: two runs with seed 5 differ", name)
		}
		c := lmDrive(t, 6, 2*lmCapacity, 10*time.Second, lmLimiters(t)[name])
		if slices.Equal(a.p99, c.p99) {
			t.Errorf("%s: seeds 5 and 6 gave the same p99 trace", name)
		}
	}
}
