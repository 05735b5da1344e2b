package feedback

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// These tests drive an EnvoyGradient request by request on the
// simulated 10-server backend (1,000 req/s at a 10 ms mean service
// time): each completion calls OnSample through QueueConfig.OnComplete
// and applies the new limit with SetLimit at once; the limiter reads
// the simulator's virtual clock. A record of the run is taken every
// 100 ms.

// evRun is the outcome of one simulated run, one entry per 100 ms.
type evRun struct {
	limit    []int
	minRTT   []time.Duration
	minRTTAt []time.Duration // when the min RTT was last set
	measured []int           // re-measurements so far
	p99      []time.Duration
	tput     []float64 // completions per second
	arrivals []int
	rejected []int
}

// evPlan sets the load and the mean service time for the window that
// starts at t.
type evPlan func(t time.Duration) (rate float64, service time.Duration)

func evSteady(rate float64) evPlan {
	return func(time.Duration) (float64, time.Duration) { return rate, 10 * time.Millisecond }
}

// evLimiter is what evDrive drives: an EnvoyGradient, or a wrapper.
type evLimiter interface {
	Limiter
	Stats() EnvoyStats
}

// evDrive runs the plant for d under plan, with the limiter mk builds on
// the run's clock admitting (mk nil: no limit).
func evDrive(t *testing.T, seed uint64, d time.Duration, plan evPlan, mk func(clock func() time.Duration) evLimiter) evRun {
	t.Helper()
	sim := NewSim(seed)
	var lim evLimiter
	if mk != nil {
		lim = mk(sim.Now)
	}
	rate, mean := plan(0)
	var q *QueueServer
	cfg := QueueConfig{
		Servers: 10,
		Service: func(r *rand.Rand) time.Duration { return time.Duration(r.ExpFloat64() * float64(mean)) },
		Rate:    rate,
	}
	if lim != nil {
		cfg.Limit = lim.Limit()
		cfg.OnComplete = func(lat time.Duration, inflight int) {
			lim.OnSample(lat, inflight, false)
			q.SetLimit(lim.Limit())
		}
	}
	q, err := NewQueueServer(sim, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var r evRun
	r.measured = make([]int, 0, int(d/lmWindow))
	for range int(d / lmWindow) {
		if nr, nm := plan(sim.Now()); nr != rate || nm != mean {
			if nr != rate {
				q.SetArrivalRate(nr)
			}
			rate, mean = nr, nm
		}
		s := q.Step(lmWindow)
		r.p99 = append(r.p99, s.P99)
		r.tput = append(r.tput, s.Throughput)
		r.arrivals = append(r.arrivals, s.Arrivals)
		r.rejected = append(r.rejected, s.Rejected)
		if lim != nil {
			st := lim.Stats()
			r.limit = append(r.limit, st.Limit)
			r.minRTT = append(r.minRTT, st.MinRTT)
			r.minRTTAt = append(r.minRTTAt, st.MinRTTAt)
			r.measured = append(r.measured, st.Measured)
		}
	}
	return r
}

func evNew(t *testing.T, opts ...LimitOption) func(func() time.Duration) evLimiter {
	return func(clock func() time.Duration) evLimiter {
		l, err := NewEnvoyGradient(append([]LimitOption{WithClock(clock)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
}

func evSum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// evNoLoadP90 is the p90 of an exponential service time of the given
// mean: what the min RTT estimates.
func evNoLoadP90(mean time.Duration) time.Duration {
	return time.Duration(float64(mean) * math.Log(10))
}

func TestEnvoyConvergesAndCutsP99AtTwiceCapacity(t *testing.T) {
	const d, warm = 60 * time.Second, 100 // windows of warm-up (10 s)
	base := evDrive(t, 11, d, evSteady(2*lmCapacity), nil)
	r := evDrive(t, 11, d, evSteady(2*lmCapacity), evNew(t))
	limit, tput := lmMeanI(r.limit[warm:]), lmMeanF(r.tput[warm:])
	p99, baseP99 := lmMeanD(r.p99[warm:]), lmMeanD(base.p99[warm:])
	t.Logf("2× load: mean limit %.1f (min %d, max %d), min RTT %v, goodput %.0f req/s (unlimited %.0f), mean window p99 %v (unlimited %v)",
		limit, slices.Min(r.limit[warm:]), slices.Max(r.limit[warm:]), r.minRTT[len(r.minRTT)-1],
		tput, lmMeanF(base.tput[warm:]), p99, baseP99)
	if limit < 10 || limit > 40 {
		t.Errorf("mean limit %.1f, want within [10, 40] (1-4× the 10 servers)", limit)
	}
	if tput < 0.95*lmCapacity {
		t.Errorf("goodput %.0f req/s, want ≥ 95%% of %.0f", tput, lmCapacity)
	}
	if p99 > 100*time.Millisecond || p99*10 > baseP99 {
		t.Errorf("p99 %v, want ≤ 100 ms and a tenth of the unlimited %v", p99, baseP99)
	}
}

func TestEnvoyDoesNotDriftUnderModestOverload(t *testing.T) {
	const d = 11 * time.Minute
	const minute = int(time.Minute / lmWindow)
	r := evDrive(t, 23, d, evSteady(1.2*lmCapacity), evNew(t))
	early := lmMeanI(r.limit[minute : 2*minute])
	late := lmMeanI(r.limit[len(r.limit)-minute:])
	e, l := lmMeanD(r.minRTT[minute:2*minute]), lmMeanD(r.minRTT[len(r.minRTT)-minute:])
	hi, noLoad := slices.Max(r.minRTT[minute:]), evNoLoadP90(10*time.Millisecond)
	t.Logf("1.2× load: mean limit %.1f in minute 2, %.1f in minute 11, max %d; goodput %.0f req/s; mean min RTT %v in minute 2, %v in minute 11, highest %v (no-load p90 %v)",
		early, late, slices.Max(r.limit[minute:]), lmMeanF(r.tput[minute:]), e, l, hi, noLoad)
	if late > 1.1*early {
		t.Errorf("limit drifted from %.1f to %.1f over 10 simulated minutes, want ≤ 10%% growth", early, late)
	}
	if l > e*11/10 || hi > noLoad*3/2 {
		t.Errorf("min RTT rose from %v to %v (highest %v) under sustained overload; no-load p90 %v", e, l, hi, noLoad)
	}
	if tput := lmMeanF(r.tput[minute:]); tput < 0.95*lmCapacity {
		t.Errorf("goodput %.0f req/s under 1.2× load, want ≥ 95%% of capacity", tput)
	}
}

// evServicePlan offers 300 req/s to the 10 servers throughout, with a
// mean service time of 10 ms (0.3× the capacity) until 30 s, 20 ms (the
// capacity halves: 0.6×) until 60 s, and 10 ms again after.
func evServicePlan(t time.Duration) (float64, time.Duration) {
	if t >= 30*time.Second && t < 60*time.Second {
		return 300, 20 * time.Millisecond
	}
	return 300, 10 * time.Millisecond
}

func TestEnvoyMinRTTFollowsServiceTimeBothWays(t *testing.T) {
	const interval = 10 * time.Second
	const win = int(time.Second / lmWindow) // records per second
	r := evDrive(t, 31, 90*time.Second, evServicePlan, evNew(t, WithMinRTTInterval(interval)))
	for _, ph := range []struct {
		from, to int // seconds
		mean     time.Duration
	}{{0, 30, 10 * time.Millisecond}, {30, 60, 20 * time.Millisecond}, {60, 90, 10 * time.Millisecond}} {
		want := evNoLoadP90(ph.mean)
		near := func(d time.Duration) bool { return d >= want*4/5 && d <= want*5/4 }
		follow := -1 // records after the phase began until the min RTT came within range
		for i := ph.from * win; i < ph.to*win; i++ {
			if near(r.minRTT[i]) {
				follow = i - ph.from*win
				break
			}
		}
		// From one interval after the change to the phase's end, the
		// min RTT must stay within range.
		settled := r.minRTT[ph.from*win+int(interval/lmWindow) : ph.to*win]
		lo, hi := slices.Min(settled), slices.Max(settled)
		arr, rej := evSum(r.arrivals[ph.from*win:ph.to*win]), evSum(r.rejected[ph.from*win:ph.to*win])
		t.Logf("%2d-%2d s, service %v (no-load p90 %v): min RTT within 20%% after %.1f s, then in [%v, %v]; limit in [%d, %d]; rejected %d of %d arrivals",
			ph.from, ph.to, ph.mean, want, float64(follow)/float64(win), lo, hi,
			slices.Min(r.limit[ph.from*win:ph.to*win]), slices.Max(r.limit[ph.from*win:ph.to*win]), rej, arr)
		if follow < 0 || follow > int(interval/lmWindow) {
			t.Errorf("%d-%d s: min RTT did not come within 20%% of %v within the %v interval", ph.from, ph.to, want, interval)
		}
		if !near(lo) || !near(hi) {
			t.Errorf("%d-%d s: min RTT ranged over [%v, %v] after the interval, want within 20%% of %v", ph.from, ph.to, lo, hi, want)
		}
		if rej*1000 > arr {
			t.Errorf("%d-%d s: %d of %d arrivals rejected, want at most 0.1%%: the limit must not shed while re-measuring", ph.from, ph.to, rej, arr)
		}
	}
}

// evProbing emulates Envoy's own re-measurement on top of an
// EnvoyGradient, to show what it costs: once an interval the limit drops
// to 3 requests (Envoy's min_concurrency default) until 50 requests
// (its request_count default) have completed.
type evProbing struct {
	*EnvoyGradient
	clock    func() time.Duration
	interval time.Duration
	next     time.Duration // when the next probe starts
	left     int           // samples the running probe still needs (0: none running)
}

func (p *evProbing) Limit() int {
	if p.left == 0 && p.clock() >= p.next {
		p.left, p.next = 50, p.clock()+p.interval
	}
	if p.left > 0 {
		return 3
	}
	return p.EnvoyGradient.Limit()
}

func (p *evProbing) OnSample(rtt time.Duration, inflight int, dropped bool) {
	if p.left > 0 {
		p.left--
	}
	p.EnvoyGradient.OnSample(rtt, inflight, dropped)
}

func TestEnvoyRemeasuresAtEightTenthsLoadWithoutShedding(t *testing.T) {
	const interval, d = 10 * time.Second, 3 * time.Minute
	const warm = int(interval / lmWindow)
	r := evDrive(t, 41, d, evSteady(0.8*lmCapacity), evNew(t, WithMinRTTInterval(interval)))
	probe := evDrive(t, 41, d, evSteady(0.8*lmCapacity), func(clock func() time.Duration) evLimiter {
		l := evNew(t, WithMinRTTInterval(interval))(clock).(*EnvoyGradient)
		return &evProbing{EnvoyGradient: l, clock: clock, interval: interval, next: interval}
	})
	oldest := time.Duration(0) // the greatest age of the min RTT after warm-up
	for i := warm; i < len(r.minRTTAt); i++ {
		oldest = max(oldest, time.Duration(i+1)*lmWindow-r.minRTTAt[i])
	}
	arr, rej := evSum(r.arrivals[warm:]), evSum(r.rejected[warm:])
	parr, prej := evSum(probe.arrivals[warm:]), evSum(probe.rejected[warm:])
	shedding := 0 // windows that refused more than 1 % of their arrivals
	for i := warm; i < len(r.rejected); i++ {
		if r.rejected[i]*100 > r.arrivals[i] {
			shedding++
		}
	}
	t.Logf("0.8× load, %v interval: min RTT re-measured %d times, never older than %v, in [%v, %v] (no-load p90 %v); limit in [%d, %d]; rejected %d of %d arrivals, %d shedding windows; with Envoy's probe (limit 3 for 50 requests each interval): rejected %d of %d",
		interval, r.measured[len(r.measured)-1]-r.measured[warm], oldest, slices.Min(r.minRTT[warm:]), slices.Max(r.minRTT[warm:]),
		evNoLoadP90(10*time.Millisecond), slices.Min(r.limit[warm:]), slices.Max(r.limit[warm:]), rej, arr, shedding, prej, parr)
	if oldest > interval {
		t.Errorf("min RTT went %v without being re-measured, want at most the %v interval", oldest, interval)
	}
	if rej*1000 > arr || shedding > 0 {
		t.Errorf("%d of %d arrivals rejected in %d shedding windows at 0.8× load, want ≤ 0.1%% and none", rej, arr, shedding)
	}
	if prej < 10*max(rej, 1) {
		t.Errorf("Envoy's probe rejected %d, not clearly more than the %d here: the comparison shows nothing", prej, rej)
	}
}

func TestEnvoyDeterministic(t *testing.T) {
	run := func(seed uint64) evRun {
		return evDrive(t, seed, 10*time.Second, evServicePlan, evNew(t, WithMinRTTInterval(5*time.Second)))
	}
	a, b, c := run(5), run(5), run(6)
	if !slices.Equal(a.limit, b.limit) || !slices.Equal(a.minRTT, b.minRTT) || !slices.Equal(a.p99, b.p99) {
		t.Error("two runs with seed 5 differ")
	}
	if slices.Equal(a.p99, c.p99) {
		t.Error("seeds 5 and 6 gave the same p99 trace")
	}
}
