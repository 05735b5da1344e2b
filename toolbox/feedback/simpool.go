package feedback

import (
	"fmt"
	"time"
)

// PoolConfig describes a simulated worker pool behind an unbounded FIFO
// queue: jobs arrive (Poisson at Rate), wait, and are taken by Workers.
type PoolConfig struct {
	// Workers is the initial number of workers; ≥ 0.
	Workers int
	// Service draws one job's processing time; required.
	Service Distribution
	// Rate is the initial job arrival rate per second; ≥ 0.
	Rate float64
}

// PoolStats is what a WorkerPool measured over one window.
type PoolStats struct {
	Window    time.Duration
	Arrivals  int // jobs that arrived in the window
	Completed int // jobs that finished in the window
	// Queue wait (arrival to a worker taking the job) of the jobs taken in
	// the window: nearest-rank percentiles and mean.
	WaitP50, WaitP90, WaitP99, WaitMean time.Duration
	// OldestWait is how long the oldest job still queued at the end of the
	// window has waited; it shows a backlog that no worker has reached.
	OldestWait  time.Duration
	Queued      int     // jobs waiting at the end of the window
	Workers     int     // workers at the end of the window
	Utilisation float64 // busy fraction of worker time in the window (per current workers)
}

// WorkerPool is a simulated autoscaling plant: actuate it with SetWorkers,
// measure queue wait with Step.
type WorkerPool struct {
	st *simStation
}

// NewWorkerPool builds a WorkerPool on sim. Arrivals start at once.
func NewWorkerPool(sim *Sim, cfg PoolConfig) (*WorkerPool, error) {
	switch {
	case sim == nil:
		return nil, fmt.Errorf("%w: nil Sim", ErrSimConfig)
	case cfg.Workers < 0:
		return nil, fmt.Errorf("%w: Workers %d < 0", ErrSimConfig, cfg.Workers)
	case cfg.Service == nil:
		return nil, fmt.Errorf("%w: nil Service", ErrSimConfig)
	case cfg.Rate < 0:
		return nil, fmt.Errorf("%w: Rate %v < 0", ErrSimConfig, cfg.Rate)
	}
	return &WorkerPool{st: newSimStation(sim, cfg.Workers, cfg.Service, cfg.Rate)}, nil
}

// SetWorkers sets the number of workers; less than 0 is taken as 0. Added
// workers take queued jobs at once; when workers are removed, busy ones
// finish their current job first.
func (p *WorkerPool) SetWorkers(n int) { p.st.setServers(max(n, 0)) }

// SetArrivalRate sets the job arrival rate per second from now on.
func (p *WorkerPool) SetArrivalRate(rate float64) { p.st.setRate(max(rate, 0)) }

// Step advances the simulation by window and returns what it measured.
func (p *WorkerPool) Step(window time.Duration) PoolStats {
	ws := p.st.collect(window)
	return PoolStats{
		Window:      ws.span,
		Arrivals:    ws.arrivals,
		Completed:   ws.completed,
		WaitP50:     ws.waitP50,
		WaitP90:     ws.waitP90,
		WaitP99:     ws.waitP99,
		WaitMean:    ws.waitMean,
		OldestWait:  ws.oldestWait,
		Queued:      p.st.queued(),
		Workers:     p.st.servers,
		Utilisation: ws.utilisation,
	}
}
