package feedback

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// tgClock is a settable clock for the latency target's windows.
type tgClock struct {
	mu  sync.Mutex
	now time.Duration
}

func (c *tgClock) Now() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *tgClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now += d
	c.mu.Unlock()
}

func tgNew(t *testing.T, target time.Duration, clk *tgClock, opts ...LimitOption) *LatencyTarget {
	t.Helper()
	l, err := NewLatencyTarget(target, append([]LimitOption{WithClock(clk.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Set moves the clock to now.
func (c *tgClock) Set(now time.Duration) {
	c.mu.Lock()
	c.now = now
	c.mu.Unlock()
}

// tgFeed gives l one window: n samples drawn by rtt, spread evenly over
// window from the clock's reading, each sent with inflight in flight;
// then moves the clock to the end of the window. The limiter closes a
// window at the first sample at or after its end, so that sample, the
// first of the next call, ends the previous window.
func tgFeed(l *LatencyTarget, clk *tgClock, window time.Duration, n int, rtt func(i int) time.Duration, inflight int) {
	start := clk.Now()
	for i := range n {
		clk.Set(start + window*time.Duration(i)/time.Duration(n))
		l.OnSample(rtt(i), inflight, false)
	}
	clk.Set(start + window)
}

func TestTargetOptionsValidated(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name   string
		target time.Duration
		opts   []LimitOption
		ok     bool
	}{
		{"defaults", 100 * ms, nil, true},
		{"zero target", 0, nil, false},
		{"negative target", -ms, nil, false},
		{"nil clock", 100 * ms, []LimitOption{WithClock(nil)}, false},
		{"window zero", 100 * ms, []LimitOption{WithTargetWindow(0, 0)}, false},
		{"span below window", 100 * ms, []LimitOption{WithTargetWindow(100*ms, 50*ms)}, false},
		{"window and default span", 100 * ms, []LimitOption{WithTargetWindow(50*ms, 0)}, true},
		{"window and span", 100 * ms, []LimitOption{WithTargetWindow(50*ms, 2*time.Second)}, true},
		{"percentile 1", 100 * ms, []LimitOption{WithTargetPercentile(1)}, false},
		{"percentile below a half", 100 * ms, []LimitOption{WithTargetPercentile(0.4)}, false},
		{"percentile NaN", 100 * ms, []LimitOption{WithTargetPercentile(math.NaN())}, false},
		{"p90", 100 * ms, []LimitOption{WithTargetPercentile(0.9)}, true},
		{"min samples zero", 100 * ms, []LimitOption{WithTargetMinSamples(0)}, false},
		{"min samples", 100 * ms, []LimitOption{WithTargetMinSamples(50)}, true},
		{"headroom below 1", 100 * ms, []LimitOption{WithTargetHeadroom(0.5)}, false},
		{"headroom infinite", 100 * ms, []LimitOption{WithTargetHeadroom(math.Inf(1))}, false},
		{"headroom 1", 100 * ms, []LimitOption{WithTargetHeadroom(1)}, true},
		{"bounds and initial", 100 * ms, []LimitOption{WithLimitBounds(5, 50), WithInitialLimit(10)}, true},
		{"initial outside bounds", 100 * ms, []LimitOption{WithLimitBounds(5, 50), WithInitialLimit(60)}, false},
		{"AIMD's backoff", 100 * ms, []LimitOption{WithBackoff(0.5)}, false},
		{"AIMD's timeout", 100 * ms, []LimitOption{WithTimeout(ms)}, false},
		{"Vegas' thresholds", 100 * ms, []LimitOption{WithVegasThresholds(1, 2)}, false},
		{"Gradient2's smoothing", 100 * ms, []LimitOption{WithSmoothing(0.5)}, false},
		{"zero option", 100 * ms, []LimitOption{{}}, false},
	}
	for _, c := range cases {
		_, err := NewLatencyTarget(c.target, c.opts...)
		switch {
		case c.ok && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case !c.ok && !errors.Is(err, ErrInvalidLimitOption):
			t.Errorf("%s: err %v, want ErrInvalidLimitOption", c.name, err)
		}
	}
}

func TestTargetOptionsRejectedByOtherLimiters(t *testing.T) {
	opts := []LimitOption{
		WithTargetWindow(time.Second, 0), WithTargetPercentile(0.9),
		WithTargetMinSamples(10), WithTargetHeadroom(3),
	}
	for _, o := range opts {
		for name, mk := range map[string]func(LimitOption) error{
			"AIMD":      func(o LimitOption) error { _, err := NewAIMD(o); return err },
			"Vegas":     func(o LimitOption) error { _, err := NewVegas(o); return err },
			"Gradient2": func(o LimitOption) error { _, err := NewGradient2(o); return err },
		} {
			if err := mk(o); !errors.Is(err, ErrInvalidLimitOption) {
				t.Errorf("%s accepted %s: %v", name, o.name, err)
			}
		}
	}
}

func TestTargetDefaults(t *testing.T) {
	l, err := NewLatencyTarget(100 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	s := l.Stats()
	if s.Target != 100*time.Millisecond || s.Percentile != 0.99 || s.Limit != 20 || l.Limit() != 20 || s.Windows != 0 {
		t.Errorf("defaults: %+v, Limit %d", s, l.Limit())
	}
	if _, ok := l.Last(); ok {
		t.Error("Last reported a window before any sample")
	}
}

func TestTargetMeasuresNearestRankOverWindow(t *testing.T) {
	clk := &tgClock{}
	l := tgNew(t, 100*time.Millisecond, clk)
	r := rand.New(rand.NewPCG(1, 2))
	var rtts []time.Duration
	for range 1500 {
		rtts = append(rtts, time.Duration(1+r.IntN(200_000))*time.Microsecond)
	}
	tgFeed(l, clk, 100*time.Millisecond, len(rtts), func(i int) time.Duration { return rtts[i] }, 7)
	if _, ok := l.Last(); ok {
		t.Fatal("window closed before its end")
	}
	l.OnSample(50*time.Millisecond, 3, false) // first sample after the end: closes
	w, ok := l.Last()
	if !ok {
		t.Fatal("window not closed at the first sample after its end")
	}
	all := append(slices.Clone(rtts), 50*time.Millisecond)
	slices.Sort(all)
	want := all[int(math.Ceil(0.99*float64(len(all))))-1]
	if w.Latency != want || w.Samples != len(all) || w.Pooled != len(all) || w.PeakInFlight != 7 {
		t.Errorf("window %+v, want p99 %v over %d samples, peak 7", w, want, len(all))
	}
	if w.Span < 100*time.Millisecond || w.LookBack != w.Span || w.End != clk.Now() {
		t.Errorf("window span %v, look-back %v, end %v (clock %v)", w.Span, w.LookBack, w.End, clk.Now())
	}
	if s := l.Stats(); s.Windows != 1 || s.Samples != uint64(len(all)) || s.Thin != 0 || s.Limit != w.Limit {
		t.Errorf("stats %+v", s)
	}
}

func TestTargetPoolsWindowsWithTooFewSamples(t *testing.T) {
	clk := &tgClock{}
	l := tgNew(t, 100*time.Millisecond, clk)
	rtt := func(int) time.Duration { return 100 * time.Millisecond }
	var pooled, samples []int
	for range 7 { // about 300 samples a window: the pool needs four windows for 1,000
		tgFeed(l, clk, 100*time.Millisecond, 300, rtt, 20)
		if w, ok := l.Last(); ok && (len(samples) == 0 || w.End != clk.Now()-100*time.Millisecond || true) {
			pooled = append(pooled, w.Pooled)
			samples = append(samples, w.Samples)
		}
	}
	for j := range pooled {
		want := 0
		for i := j; i >= 0 && want < 1000; i-- {
			want += samples[i]
		}
		if pooled[j] != want {
			t.Errorf("window %d pooled %d samples, want %d: the newest windows (of %v) until 1,000", j+1, pooled[j], want, samples)
		}
	}
	w, _ := l.Last()
	if w.LookBack != 400*time.Millisecond {
		t.Errorf("look-back %v, want four windows", w.LookBack)
	}

	// At 20 samples a window the look-back stops at the 1 s span; below
	// 100 samples a measurement is thin and counts for less.
	sparse := tgNew(t, 100*time.Millisecond, clk)
	for range 30 {
		tgFeed(sparse, clk, 100*time.Millisecond, 20, rtt, 20)
	}
	w, _ = sparse.Last()
	if w.LookBack > time.Second+100*time.Millisecond || w.Pooled > 220 {
		t.Errorf("sparse window: look-back %v over %d samples, want at most the 1 s span", w.LookBack, w.Pooled)
	}
	thin := tgNew(t, 100*time.Millisecond, clk)
	for range 5 {
		tgFeed(thin, clk, 100*time.Millisecond, 3, rtt, 20)
	}
	if s := thin.Stats(); s.Thin == 0 {
		t.Errorf("3 samples a window: no thin measurement counted: %+v", s)
	}
}

// tgDrive feeds windows of 200 samples at latency lat, each sent with
// inflight in flight (a func of the current limit), and returns the
// limit after each window.
func tgDrive(l *LatencyTarget, clk *tgClock, windows int, lat time.Duration, inflight func(limit int) int) []int {
	var limits []int
	for range windows {
		tgFeed(l, clk, 100*time.Millisecond, 200, func(int) time.Duration { return lat }, inflight(l.Limit()))
		limits = append(limits, l.Limit())
	}
	return limits
}

func TestTargetLimitFollowsLatency(t *testing.T) {
	full := func(limit int) int { return limit }
	clk := &tgClock{}

	slow := tgNew(t, 100*time.Millisecond, clk, WithInitialLimit(100))
	ls := tgDrive(slow, clk, 30, 300*time.Millisecond, full)
	t.Logf("p99 at 3× the target: limits %v", ls)
	if ls[len(ls)-1] >= 50 {
		t.Errorf("latency 3× the target for 3 s: limit %d, want it well below the initial 100", ls[len(ls)-1])
	}
	for i := 1; i < len(ls); i++ {
		if ls[i] > ls[i-1] {
			t.Errorf("limit rose from %d to %d while latency was above the target", ls[i-1], ls[i])
		}
	}

	fast := tgNew(t, 100*time.Millisecond, clk)
	ls = tgDrive(fast, clk, 30, 30*time.Millisecond, full)
	t.Logf("p99 at 0.3× the target, limit in use: limits %v", ls)
	if ls[len(ls)-1] <= 40 {
		t.Errorf("latency under the target with the limit in use: limit %d, want it grown from 20", ls[len(ls)-1])
	}

	// Little in flight: the limit grows to at most twice the peak and
	// never falls for it.
	idle := tgNew(t, 100*time.Millisecond, clk, WithInitialLimit(15))
	ls = tgDrive(idle, clk, 30, 30*time.Millisecond, func(int) int { return 10 })
	t.Logf("p99 at 0.3× the target, 10 in flight: limits %v", ls)
	if slices.Max(ls) > 20 || slices.Min(ls) < 15 {
		t.Errorf("light load: limits within [%d, %d], want within [15, 20] (initial 15, headroom 2 × 10)", slices.Min(ls), slices.Max(ls))
	}
	wide := tgNew(t, 100*time.Millisecond, clk, WithInitialLimit(50))
	ls = tgDrive(wide, clk, 10, 30*time.Millisecond, func(int) int { return 10 })
	if slices.Min(ls) != 50 {
		t.Errorf("light load under a wide limit: limit fell to %d, want it kept at 50", slices.Min(ls))
	}

	// After a light spell the headroom reset leaves no wound-up integral:
	// once over target, the limit falls from the next window. (The first
	// window closed by tgDrive is the last light one, with the limit in
	// use at its end, and may still raise the limit to twice that.)
	ls = tgDrive(idle, clk, 4, 300*time.Millisecond, full)
	t.Logf("over target after a light spell: limits %v", ls)
	if ls[0] > 40 || ls[1] >= ls[0] || ls[3] >= 20 {
		t.Errorf("over target after a light spell: limits %v, want falling below 20 within 4 windows", ls)
	}
}

func TestTargetStaysWithinBounds(t *testing.T) {
	clk := &tgClock{}
	full := func(limit int) int { return limit }
	l := tgNew(t, 100*time.Millisecond, clk, WithLimitBounds(5, 40), WithInitialLimit(10))
	ls := tgDrive(l, clk, 100, 10*time.Millisecond, full)
	ls = append(ls, tgDrive(l, clk, 100, 10*time.Second, full)...)
	t.Logf("limits %v", ls)
	if slices.Max(ls) != 40 || slices.Min(ls) != 5 {
		t.Errorf("limits within [%d, %d], want to reach both bounds [5, 40] and stay within", slices.Min(ls), slices.Max(ls))
	}
	// Off the lower bound without wind-up: once the slow samples have
	// left the pooled measurement (1,000 samples, five windows here),
	// the limit rises at the next window.
	ls = tgDrive(l, clk, 7, 10*time.Millisecond, full)
	t.Logf("recovery %v", ls)
	if ls[len(ls)-1] <= 5 {
		t.Errorf("limit stuck at the lower bound after recovery: %v", ls)
	}
}

func TestTargetDropsCountAsSlowest(t *testing.T) {
	for _, c := range []struct {
		dropEvery int
		inf       bool
	}{{50, true}, {200, false}} { // 2 % and 0.5 % dropped
		clk := &tgClock{}
		l := tgNew(t, 100*time.Millisecond, clk, WithInitialLimit(50))
		for i := range 1200 {
			l.OnSample(10*time.Millisecond, 50, i%c.dropEvery == 0)
			clk.Advance(100 * time.Microsecond)
		}
		w, ok := l.Last()
		if !ok {
			t.Fatal("no window closed")
		}
		if got := w.Latency == math.MaxInt64; got != c.inf || w.Dropped == 0 {
			t.Errorf("one drop in %d: window %+v, want the p99 among the drops %v", c.dropEvery, w, c.inf)
		}
		if c.inf && l.Limit() >= 50 {
			t.Errorf("2 %% dropped: limit %d, want below 50", l.Limit())
		}
		if s := l.Stats(); s.Dropped == 0 || s.Dropped > s.Samples {
			t.Errorf("stats %+v", s)
		}
	}
}

func TestTargetSetTargetIsBumpless(t *testing.T) {
	clk := &tgClock{}
	full := func(limit int) int { return limit }
	l := tgNew(t, 100*time.Millisecond, clk, WithInitialLimit(40))
	tgDrive(l, clk, 20, 100*time.Millisecond, full)
	if err := l.SetTarget(0); !errors.Is(err, ErrInvalidLimitOption) {
		t.Errorf("SetTarget(0): %v", err)
	}
	before := l.Limit()
	if err := l.SetTarget(200 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if l.Limit() != before || l.Stats().Target != 200*time.Millisecond {
		t.Errorf("SetTarget moved the limit from %d to %d, or target %v", before, l.Limit(), l.Stats().Target)
	}
	ls := tgDrive(l, clk, 20, 100*time.Millisecond, full)
	if ls[0] < before-1 || ls[0] > before*13/10 {
		t.Errorf("first window after SetTarget: limit %d from %d, want a small step", ls[0], before)
	}
	if ls[len(ls)-1] <= before {
		t.Errorf("latency at half the new target: limit %d, want above %d", ls[len(ls)-1], before)
	}
}

func TestTargetSafeForConcurrentUse(t *testing.T) {
	clk := &tgClock{}
	l := tgNew(t, 50*time.Millisecond, clk, WithLimitBounds(1, 200))
	const workers, each = 8, 2000
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 9))
			for i := range each {
				clk.Advance(10 * time.Microsecond)
				l.OnSample(time.Duration(1+r.IntN(100))*time.Millisecond, l.Limit(), i%500 == 0)
				if lim := l.Limit(); lim < 1 || lim > 200 {
					t.Errorf("limit %d out of bounds", lim)
				}
				l.Stats()
				l.Last()
			}
		}()
	}
	wg.Wait()
	if s := l.Stats(); s.Samples+uint64(countOpen(l)) != workers*each || s.Windows == 0 {
		t.Errorf("stats %+v after %d samples", s, workers*each)
	}
}

// countOpen returns the samples in the window not yet closed.
func countOpen(l *LatencyTarget) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.cur.rtts) + l.cur.dropped
}

func TestTargetWindowClosesEarlyWhenFull(t *testing.T) {
	clk := &tgClock{}
	l := tgNew(t, 100*time.Millisecond, clk)
	for range targetMaxSamples {
		l.OnSample(time.Millisecond, 1, false) // all at the same instant
	}
	if s := l.Stats(); s.Windows != 1 || s.Samples != targetMaxSamples {
		t.Errorf("after %d samples in no time: %+v, want one window closed", targetMaxSamples, s)
	}
}

func TestTargetSelectNthMatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 3, 17, 18, 100, 1001, 5000} {
		for _, spread := range []int{3, 1_000_000} { // many duplicates, few
			xs := make([]time.Duration, n)
			for i := range xs {
				xs[i] = time.Duration(r.IntN(spread))
			}
			sorted := slices.Sorted(slices.Values(xs))
			for _, k := range []int{0, n / 2, n * 99 / 100, n - 1} {
				if got := nthDuration(slices.Clone(xs), k); got != sorted[k] {
					t.Errorf("n %d spread %d: nthDuration(%d) = %v, sort gives %v", n, spread, k, got, sorted[k])
				}
			}
		}
	}
}
