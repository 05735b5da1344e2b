package feedback

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/core/coretest"
)

func newTestLoop(t *testing.T, rate float64, cfg rateLoopConfig) *rateLoop {
	t.Helper()
	b, err := NewRateLimiter(rate, 1, WithRateBounds(1, 1e6))
	if err != nil {
		t.Fatal(err)
	}
	l, err := newRateLoop(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestRateLoopDirection(t *testing.T) {
	const w = 100 * time.Millisecond
	cases := []struct {
		name string
		loss float64
		want func(before, after float64) bool
	}{
		{"heavy loss cuts the rate", 0.5, func(b, a float64) bool { return a < 0.9*b }},
		{"loss just above the set point lowers it a little", 0.02, func(b, a float64) bool { return a < b && a > 0.9*b }},
		{"no loss raises it", 0, func(b, a float64) bool { return a > b }},
		{"nothing measured holds it", math.NaN(), func(b, a float64) bool { return a == b }},
	}
	for _, c := range cases {
		l := newTestLoop(t, 1000, defaultRateLoopConfig())
		before := l.bucket.Rate()
		after := l.update(c.loss, before, w)
		if !c.want(before, after) {
			t.Errorf("%s: %v → %v", c.name, before, after)
		}
	}
}

// Windows in a row without loss probe faster and faster, up to a bound.
func TestRateLoopProbeAccelerates(t *testing.T) {
	l := newTestLoop(t, 100, defaultRateLoopConfig())
	var steps []float64
	prev := l.bucket.Rate()
	for range 20 {
		r := l.update(0, prev, 100*time.Millisecond)
		steps = append(steps, r/prev)
		prev = r
	}
	if !(steps[4] > steps[0]) {
		t.Errorf("probe did not accelerate: factors %v", steps)
	}
	// The fastest probe is rateProbe·(Kp + Ki·dt) in log units a window
	// after the first.
	maxStep := math.Exp(rateProbe * (DefaultRateKi*0.1 + DefaultRateKp))
	for i, f := range steps {
		if f > maxStep*1.0001 {
			t.Errorf("window %d: rate grew ×%.3f, more than ×%.3f", i, f, maxStep)
		}
	}
}

// A sender using less than rate/headroom gives no evidence for a higher
// rate: the rate holds, and rises at once when demand returns.
func TestRateLoopHeadroomHoldsIdleRate(t *testing.T) {
	l := newTestLoop(t, 1000, defaultRateLoopConfig())
	for range 50 {
		l.update(0, 10, 100*time.Millisecond)
	}
	if r := l.bucket.Rate(); r != 1000 {
		t.Errorf("idle sender: rate %v, want 1000 held", r)
	}
	if r := l.update(0, 1000, 100*time.Millisecond); !(r > 1000) {
		t.Errorf("busy again: rate %v, want above 1000", r)
	}
	// A loss still lowers an idle sender's rate.
	if r := l.update(0.5, 10, 100*time.Millisecond); !(r < 1000) {
		t.Errorf("loss while idle: rate %v", r)
	}
}

// A lag signal above its set point lowers the rate, below raises it.
func TestRateLoopLagSignal(t *testing.T) {
	cfg := defaultRateLoopConfig()
	cfg.level, cfg.setpoint = true, 100
	l := newTestLoop(t, 1000, cfg)
	if r := l.update(400, 1000, 100*time.Millisecond); !(r < 1000) {
		t.Errorf("lag 4× the set point: rate %v", r)
	}
	prev := l.bucket.Rate()
	if r := l.update(10, prev, 100*time.Millisecond); !(r > prev) {
		t.Errorf("lag below the set point: rate %v, was %v", r, prev)
	}
}

func TestRateLoopCallerController(t *testing.T) {
	cfg := defaultRateLoopConfig()
	var got []float64
	cfg.ctrl = ControllerFunc(func(y float64, dt time.Duration) float64 {
		got = append(got, y)
		return 2e6 // above the bound: clamped
	})
	l := newTestLoop(t, 1000, cfg)
	if r := l.update(0.25, 1000, time.Second); r != 1e6 {
		t.Errorf("rate %v, want the bucket's upper bound", r)
	}
	if len(got) != 1 || got[0] != 0.25 {
		t.Errorf("controller saw %v, want the raw signal", got)
	}
}

func TestRatePacerOptionsValidated(t *testing.T) {
	peer := coretest.NewPeer(t, "pub", core.WithRegistry(coretest.NewRegistry(t)))
	f := func() float64 { return 0 }
	bad := map[string][]PacerOption{
		"rate below min":        {WithPacerRate(5, 10, 20)},
		"zero min":              {WithPacerRate(5, 0, 20)},
		"infinite initial":      {WithPacerRate(math.Inf(1), 1, math.Inf(1))},
		"burst 0":               {WithPacerBurst(0)},
		"set point 0":           {WithPacerSetpoint(0)},
		"set point 1":           {WithPacerSetpoint(1)},
		"nil drop signal":       {WithDropSignal(nil)},
		"nil lag signal":        {WithLagSignal(nil, 1)},
		"lag set point 0":       {WithLagSignal(f, 0)},
		"set point with lag":    {WithLagSignal(f, 5), WithPacerSetpoint(0.05)},
		"negative Kp":           {WithPacerGains(-1, 1)},
		"zero Ki":               {WithPacerGains(1, 0)},
		"nil controller":        {WithPacerController(nil)},
		"gains with controller": {WithPacerGains(1, 1), WithPacerController(ControllerFunc(func(float64, time.Duration) float64 { return 1 }))},
		"headroom below 1":      {WithPacerHeadroom(0.5)},
	}
	for name, opts := range bad {
		if _, err := NewPublishPacer(peer, "t", opts...); !errors.Is(err, ErrInvalidRateLoopOption) {
			t.Errorf("%s: %v, want ErrInvalidRateLoopOption", name, err)
		}
	}
	if _, err := NewPublishPacer(nil, "t"); !errors.Is(err, ErrInvalidRateLoopOption) {
		t.Errorf("nil peer: %v", err)
	}
	if _, err := NewPublishPacer(peer, ""); !errors.Is(err, ErrInvalidRateLoopOption) {
		t.Errorf("no topic: %v", err)
	}
	// The last signal given wins, with its own set point.
	p, err := NewPublishPacer(peer, "t", WithLagSignal(f, 50), WithDropSignal(f))
	if err != nil || p.Stats().Setpoint != DefaultLossSetpoint || p.loop.cfg.level {
		t.Errorf("lag then drop signal: %v, set point %v", err, p.Stats().Setpoint)
	}
	p, err = NewPublishPacer(peer, "t", WithDropSignal(f), WithLagSignal(f, 50))
	if err != nil || p.Stats().Setpoint != 50 || !p.loop.cfg.level {
		t.Errorf("drop then lag signal: %v, set point %v", err, p.Stats().Setpoint)
	}
	p, err = NewPublishPacer(peer, "t")
	if err != nil {
		t.Fatal(err)
	}
	s := p.Stats()
	if s.Rate != DefaultPacerRate || s.Setpoint != DefaultLossSetpoint || p.Bucket().Stats().Burst != DefaultPacerBurst {
		t.Errorf("defaults: %+v, burst %d", s, p.Bucket().Stats().Burst)
	}
}

func TestRateCallOptionsValidated(t *testing.T) {
	bucket, err := NewRateLimiter(100, 1)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string][]CallRateOption{
		"max wait 0":             {WithCallRateMaxWait(0)},
		"max wait with failfast": {WithCallRateFailFast(true), WithCallRateMaxWait(time.Second)},
		"set point 2":            {WithCallRateSetpoint(2)},
		"NaN gains":              {WithCallRateGains(math.NaN(), 1)},
		"nil controller":         {WithCallRateController(nil)},
		"headroom NaN":           {WithCallRateHeadroom(math.NaN())},
	}
	for name, opts := range bad {
		if _, err := NewCallRate(bucket, opts...); !errors.Is(err, ErrInvalidRateLoopOption) {
			t.Errorf("%s: %v, want ErrInvalidRateLoopOption", name, err)
		}
	}
	if _, err := NewCallRate(nil); !errors.Is(err, ErrInvalidRateLoopOption) {
		t.Errorf("nil bucket: %v", err)
	}
	inf, err := NewRateLimiter(math.Inf(1), 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewCallRate(inf); !errors.Is(err, ErrInvalidRateLoopOption) {
		t.Errorf("unbounded bucket with the default controller: %v", err)
	}
	cr, err := NewCallRate(bucket, WithCallRateFailFast(false), WithCallRateSetpoint(0.05))
	if err != nil {
		t.Fatal(err)
	}
	if s := cr.Stats(); s.Setpoint != 0.05 || s.Rate != 100 || !math.IsNaN(s.Shed) {
		t.Errorf("stats %+v", s)
	}
}

// The loss a subscriber measures: dropped from its queue or missed,
// out of all that reached it, per call.
func TestRateSubscriptionLoss(t *testing.T) {
	pub, sub := pubsubPair(t, 5)
	loss := SubscriptionLoss(sub)
	if v := loss(); !math.IsNaN(v) {
		t.Errorf("nothing arrived: %v, want NaN", v)
	}
	// Nobody reads: 5 fit in the queue, the rest is dropped.
	for i := range 20 {
		if err := pub.Publish("ticks", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	coretest.WaitFor(t, 10*time.Second, "20 messages to reach the subscriber", func() bool {
		s := sub.Stats()
		return s.Received+s.Dropped+s.Missed >= 20
	})
	if v := loss(); math.Abs(v-15.0/20) > 1e-9 {
		t.Errorf("loss %v, want 0.75", v)
	}
	if v := loss(); !math.IsNaN(v) {
		t.Errorf("second call with nothing new: %v, want NaN", v)
	}
}

// A bucket that may go down to 0 still gets a positive floor from the
// default controller: at 0 nothing would be sent to show a recovery.
func TestRateLoopFloor(t *testing.T) {
	b, err := NewRateLimiter(100, 1)
	if err != nil {
		t.Fatal(err)
	}
	l, err := newRateLoop(b, defaultRateLoopConfig())
	if err != nil {
		t.Fatal(err)
	}
	for range 200 {
		l.update(1, 100, 100*time.Millisecond)
	}
	// Conditional integration stops the integral a step short of the
	// limit, so the rate settles just above the floor.
	floor := 100 * rateFloorShare
	if r := b.Rate(); r < floor*(1-1e-9) || r > 1.1*floor {
		t.Errorf("rate %v after losing everything, want the floor %v", r, floor)
	}
}
