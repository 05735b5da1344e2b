package feedback

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// PublishRateSim is the scenario of SimulatePublishRate: a publisher
// that wants to send Demand messages a second to one subscriber whose
// capacity steps through Capacities, behind a queue of Queue messages
// that drops what does not fit. The zero value is the default scenario.
type PublishRateSim struct {
	Seed uint64
	// Duration is the simulated time; 0 means 30 s.
	Duration time.Duration
	// Window is the control window; 0 means 100 ms.
	Window time.Duration
	// Demand is what the publisher would send, messages per second;
	// 0 means 5,000.
	Demand float64
	// Capacities are the subscriber's capacities, messages per second,
	// each holding for an equal part of the run; empty means 500, then
	// 200, then 1,000. Each window's capacity varies by up to ±10 %,
	// drawn from Seed.
	Capacities []float64
	// Queue is the subscriber's queue, messages; 0 means 50.
	Queue int
	// Setpoint is the drop share held; 0 means DefaultLossSetpoint.
	Setpoint float64
}

func (c *PublishRateSim) defaults() error {
	if c.Duration == 0 {
		c.Duration = 30 * time.Second
	}
	if c.Window == 0 {
		c.Window = 100 * time.Millisecond
	}
	if c.Demand == 0 {
		c.Demand = 5000
	}
	if len(c.Capacities) == 0 {
		c.Capacities = []float64{500, 200, 1000}
	}
	if c.Queue == 0 {
		c.Queue = 50
	}
	if c.Setpoint == 0 {
		c.Setpoint = DefaultLossSetpoint
	}
	if c.Duration < 0 || c.Window <= 0 || c.Window > c.Duration || !(c.Demand > 0) || c.Queue < 0 || !(c.Setpoint > 0 && c.Setpoint < 1) {
		return fmt.Errorf("%w: publish-rate scenario %+v", ErrSimConfig, *c)
	}
	for _, v := range c.Capacities {
		if !(v > 0) || math.IsInf(v, 1) {
			return fmt.Errorf("%w: capacity %v", ErrSimConfig, v)
		}
	}
	return nil
}

// subPlant is the simulated subscriber: a queue drained at a capacity,
// fed in slices of a millisecond so that it fills and overflows within
// a window as a real one does.
type subPlant struct {
	queue, max float64
}

// window feeds sent messages evenly over the window, drains at capacity
// and returns how many were dropped and how many served.
func (s *subPlant) window(sent, capacity float64, slices int) (dropped, served float64) {
	in, out := sent/float64(slices), capacity/float64(slices)
	for range slices {
		s.queue += in
		if s.queue > s.max {
			dropped += s.queue - s.max
			s.queue = s.max
		}
		d := math.Min(s.queue, out)
		s.queue -= d
		served += d
	}
	return dropped, served
}

// SimulatePublishRate runs the publisher pacing loop (PublishPacer's
// controller, with its defaults) against a simulated subscriber, next
// to the same publisher unpaced, and reports the trace and the drop
// shares. Windows are fluid (fractional messages), with the capacity of
// each drawn around its nominal value from the seed.
func SimulatePublishRate(cfg PublishRateSim) (*SimReport, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	bucket, err := NewRateLimiter(DefaultPacerRate, DefaultPacerBurst, WithRateBounds(DefaultPacerMin, math.Inf(1)))
	if err != nil {
		return nil, err
	}
	lc := defaultRateLoopConfig()
	lc.setpoint = cfg.Setpoint
	loop, err := newRateLoop(bucket, lc)
	if err != nil {
		return nil, err
	}
	tr, err := NewTrace("capacity", "delivered", "unpaced_drop_share")
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7261746573696d))
	paced := subPlant{max: float64(cfg.Queue)}
	bare := subPlant{max: float64(cfg.Queue)}
	n := int(cfg.Duration / cfg.Window)
	slices := max(1, int(cfg.Window/time.Millisecond))
	var acc rateSimTotals
	for i := range n {
		nominal := cfg.Capacities[i*len(cfg.Capacities)/n]
		capacity := nominal * (0.9 + 0.2*rng.Float64())
		w := cfg.Window.Seconds()
		sent := math.Min(cfg.Demand, bucket.Rate()) * w
		dropped, served := paced.window(sent, capacity*w, slices)
		bd, _ := bare.window(cfg.Demand*w, capacity*w, slices)
		y := lossShare64(dropped, sent)
		rate := loop.update(y, sent/w, cfg.Window)
		acc.add(i, n, len(cfg.Capacities), sent, dropped, served, nominal*w, cfg.Demand*w, bd)
		at := time.Duration(i+1) * cfg.Window
		if err := tr.Add(at, cfg.Setpoint, y, rate, nominal, served/w, bd/(cfg.Demand*w)); err != nil {
			return nil, err
		}
	}
	rep := &SimReport{Name: "pubrate", Seed: cfg.Seed, Trace: tr, Plot: PlotOptions{
		Title: "publisher pacing: drop share held at the set point",
		Panels: []Panel{
			{Title: "drop share", Series: []string{SeriesSetpoint, SeriesMeasurement, "unpaced_drop_share"}},
			{Title: "messages per second", Series: []string{SeriesActuation, "capacity", "delivered"}},
		},
	}}
	acc.report(rep)
	return rep, nil
}

func lossShare64(lost, sent float64) float64 {
	if sent <= 0 {
		return math.NaN()
	}
	return lost / sent
}

// rateSimTotals sums a publish-rate run, over the whole run and over the
// second half of each capacity phase (the settled part).
type rateSimTotals struct {
	sent, dropped, bareSent, bareDropped float64
	settledSent, settledDropped          float64
	settledServed, settledCapacity       float64
}

func (a *rateSimTotals) add(i, n, phases int, sent, dropped, served, capacity, bareSent, bareDropped float64) {
	a.sent += sent
	a.dropped += dropped
	a.bareSent += bareSent
	a.bareDropped += bareDropped
	per := float64(n) / float64(phases)
	if pos := math.Mod(float64(i), per); pos >= per/2 {
		a.settledSent += sent
		a.settledDropped += dropped
		a.settledServed += served
		a.settledCapacity += capacity
	}
}

func (a *rateSimTotals) report(r *SimReport) {
	r.AddMetric("drop_share_settled", a.settledDropped/a.settledSent, "ratio")
	r.AddMetric("drop_share_paced", a.dropped/a.sent, "ratio")
	r.AddMetric("drop_share_unpaced", a.bareDropped/a.bareSent, "ratio")
	r.AddMetric("delivered_of_capacity_settled", a.settledServed/a.settledCapacity, "ratio")
}
