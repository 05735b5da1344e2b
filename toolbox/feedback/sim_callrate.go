package feedback

import (
	"cmp"
	"fmt"
	"time"
)

// CallRateSim is the scenario of SimulateCallRate: a caller that would
// send Demand calls a second to a service of Servers handlers (10 ms
// exponential service each) which queues at most as many calls as it
// has handlers and sheds the rest as overloaded. Its handlers change
// through Servers, each for an equal part of the run. The zero value is
// the default scenario.
type CallRateSim struct {
	Seed uint64
	// Duration is the simulated time; 0 means 30 s.
	Duration time.Duration
	// Demand is what the caller would send, calls per second; 0 means
	// 3,000.
	Demand float64
	// Servers are the service's handlers in turn; empty means 4, then
	// 12, then 6 (400, 1,200 and 600 calls/s of capacity).
	Servers []int
}

func (c *CallRateSim) defaults() error {
	c.Duration = cmp.Or(c.Duration, 30*time.Second)
	if c.Demand == 0 {
		c.Demand = 3000
	}
	if len(c.Servers) == 0 {
		c.Servers = []int{4, 12, 6}
	}
	if c.Duration < time.Second || !(c.Demand > 0) {
		return fmt.Errorf("%w: call-rate scenario: Duration %v (want ≥ 1s), Demand %v (want > 0)", ErrSimConfig, c.Duration, c.Demand)
	}
	for _, n := range c.Servers {
		if n < 1 {
			return fmt.Errorf("%w: call-rate scenario: %d servers", ErrSimConfig, n)
		}
	}
	return nil
}

// SimulateCallRate runs CallRate's loop, with its defaults (shed share
// held at 1 %), in front of a simulated service that sheds what it has
// no room for, next to the same caller sending at its full demand, and
// reports the trace and the shed shares. The loop is stepped every
// 100 ms with the share of the window's calls the service shed.
func SimulateCallRate(cfg CallRateSim) (*SimReport, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	bucket, err := NewRateLimiter(DefaultPacerRate, DefaultPacerBurst, WithRateBounds(DefaultPacerMin, cfg.Demand))
	if err != nil {
		return nil, err
	}
	loop, err := newRateLoop(bucket, defaultRateLoopConfig())
	if err != nil {
		return nil, err
	}
	service := func(sim *Sim) (*QueueServer, error) {
		n := cfg.Servers[0]
		return NewQueueServer(sim, QueueConfig{Servers: n, Service: Exponential(10 * time.Millisecond), Limit: 2 * n})
	}
	paced, err := service(NewSim(cfg.Seed))
	if err != nil {
		return nil, err
	}
	bare, err := service(NewSim(cfg.Seed + 1))
	if err != nil {
		return nil, err
	}
	bare.SetArrivalRate(cfg.Demand)
	tr, err := NewTrace("capacity", "answered", "unpaced_shed_share")
	if err != nil {
		return nil, err
	}
	const window = 100 * time.Millisecond
	n := int(cfg.Duration / window)
	var tot struct{ sent, shed, bareSent, bareShed, settledSent, settledShed, settledAnswered, settledCapacity float64 }
	phase := -1
	for i := range n {
		if p := i * len(cfg.Servers) / n; p != phase {
			phase = p
			paced.SetServers(cfg.Servers[p])
			paced.SetLimit(2 * cfg.Servers[p])
			bare.SetServers(cfg.Servers[p])
			bare.SetLimit(2 * cfg.Servers[p])
		}
		paced.SetArrivalRate(bucket.Rate())
		s, b := paced.Step(window), bare.Step(window)
		y := lossShare(uint64(s.Rejected), uint64(s.Arrivals-s.Rejected))
		rate := loop.update(y, float64(s.Arrivals)/window.Seconds(), window)
		capacity := float64(cfg.Servers[phase]) / 0.010
		tot.sent += float64(s.Arrivals)
		tot.shed += float64(s.Rejected)
		tot.bareSent += float64(b.Arrivals)
		tot.bareShed += float64(b.Rejected)
		per := float64(n) / float64(len(cfg.Servers))
		if float64(i)-float64(phase)*per >= per/2 { // second half of the phase
			tot.settledSent += float64(s.Arrivals)
			tot.settledShed += float64(s.Rejected)
			tot.settledAnswered += float64(s.Completed)
			tot.settledCapacity += capacity * window.Seconds()
		}
		if err := tr.Add(time.Duration(i+1)*window, DefaultLossSetpoint, y, rate, capacity, s.Throughput, lossShare(uint64(b.Rejected), uint64(b.Arrivals-b.Rejected))); err != nil {
			return nil, err
		}
	}
	rep := &SimReport{Name: "callrate", Seed: cfg.Seed, Trace: tr, Plot: PlotOptions{
		Title: fmt.Sprintf("caller rate control: shed share held at 1 %% by a caller that would send %.0f calls/s", cfg.Demand),
		Panels: []Panel{
			{Title: "share of calls shed by the service", Series: []string{SeriesSetpoint, SeriesMeasurement, "unpaced_shed_share"}},
			{Title: "calls per second", Series: []string{SeriesActuation, "capacity", "answered"}},
		},
	}}
	rep.AddMetric("shed_share_settled", tot.settledShed/tot.settledSent, "ratio")
	rep.AddMetric("shed_share_paced", tot.shed/tot.sent, "ratio")
	rep.AddMetric("shed_share_unpaced", tot.bareShed/tot.bareSent, "ratio")
	rep.AddMetric("answered_of_capacity_settled", tot.settledAnswered/tot.settledCapacity, "ratio")
	return rep, nil
}
