package feedback

import (
	"context"
	"fmt"
	"time"
)

// SimPool adapts a simulated WorkerPool to a WorkerLoop: it is both
// the loop's WaitSource (MeasureWait advances the simulation by dt) and
// its Scaler (SetWorkers takes effect at once).
type SimPool struct {
	p     *WorkerPool
	last  PoolStats
	waits []time.Duration // every wait of the windows since the last TakeWaits, when recording
	rec   bool
}

// NewSimPool adapts p. With record set, it keeps the wait of every job
// a worker takes, for TakeWaits.
func NewSimPool(p *WorkerPool, record bool) (*SimPool, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: nil WorkerPool", ErrSimConfig)
	}
	return &SimPool{p: p, rec: record}, nil
}

// MeasureWait advances the simulation by dt and returns the window's
// queue wait. The mean service time is the workers' busy time over the
// jobs completed.
func (s *SimPool) MeasureWait(dt, late time.Duration) (WaitWindow, error) {
	st := s.p.st
	st.sim.RunUntil(st.sim.Now() + dt)
	if s.rec {
		s.waits = append(s.waits, st.waits...)
	}
	taken, over := len(st.waits), 0
	for _, w := range st.waits {
		if w > late {
			over++
		}
	}
	ps := s.p.Step(0) // the window since the previous Step
	s.last = ps
	w := WaitWindow{
		Window: ps.Window, Arrivals: ps.Arrivals, Dispatched: taken, Late: float64(over),
		WaitP99: ps.WaitP99, Queued: ps.Queued, OldestWait: ps.OldestWait,
	}
	if ps.Completed > 0 {
		busy := ps.Utilisation * float64(ps.Workers) * float64(ps.Window)
		w.MeanService = time.Duration(busy / float64(ps.Completed))
	}
	return w, nil
}

// Workers returns the pool's number of workers.
func (s *SimPool) Workers() int { return s.p.st.servers }

// SetWorkers sets the pool's number of workers at once.
func (s *SimPool) SetWorkers(_ context.Context, n int) error {
	s.p.SetWorkers(n)
	return nil
}

// Last returns the pool's stats for the last window MeasureWait measured.
func (s *SimPool) Last() PoolStats { return s.last }

// TakeWaits returns the waits recorded since the previous call, in the
// order jobs were taken, and forgets them. The slice is the caller's.
func (s *SimPool) TakeWaits() []time.Duration {
	w := s.waits
	s.waits = nil
	return w
}
