package feedback

import (
	"fmt"
	"time"
)

// QueueConfig describes a simulated request/response server: Poisson
// arrivals at Rate, Servers handlers drawing service times from Service,
// and an admission limit on requests in flight.
type QueueConfig struct {
	// Servers is the number of requests served at once; must be ≥ 1.
	Servers int
	// Service draws one request's service time; required. Exponential(10ms)
	// with 10 servers is a backend of 1,000 req/s capacity.
	Service Distribution
	// Rate is the initial arrival rate in requests per second; ≥ 0.
	Rate float64
	// Limit caps requests in flight (queued plus in service); an arrival
	// beyond it is rejected and counted. 0 (the default) is no limit, so
	// the queue grows without bound under overload.
	Limit int
	// Deadline is the latency within which a completion counts as goodput.
	// 0 (the default) counts every completion.
	Deadline time.Duration
	// OnComplete, when set, is called inside the simulation as each
	// request completes, with its latency (arrival to completion) and the
	// requests in flight when it was admitted, itself included: what a
	// per-request Limiter's OnSample takes. It may call SetLimit, so a
	// limiter can act request by request rather than once per window.
	OnComplete func(latency time.Duration, inflight int)
}

// QueueStats is what a QueueServer measured over one window.
type QueueStats struct {
	Window     time.Duration // length of the window
	Arrivals   int           // requests that arrived
	Rejected   int           // arrivals refused by the admission limit
	Completed  int           // requests that finished in the window
	Throughput float64       // completions per second
	Goodput    float64       // completions within Deadline per second
	// Latency percentiles (nearest rank) and mean over the window's
	// completions, arrival to completion; zero when none completed.
	P50, P90, P99, Mean time.Duration
	// MeanWait is the mean time spent queued by requests whose service
	// started in the window.
	MeanWait    time.Duration
	InFlight    int     // queued plus in service at the end of the window
	Queued      int     // waiting at the end of the window
	Utilisation float64 // fraction of server time busy in the window
	Limit       int     // admission limit at the end of the window (0: none)
}

// QueueServer is a simulated server plant. Actuate it with SetLimit (an
// admission controller) or SetArrivalRate (a load schedule or a
// client-side limiter), and measure it with Step once per control window.
type QueueServer struct {
	st *simStation
}

// NewQueueServer builds a QueueServer on sim. Arrivals start at once.
func NewQueueServer(sim *Sim, cfg QueueConfig) (*QueueServer, error) {
	switch {
	case sim == nil:
		return nil, fmt.Errorf("%w: nil Sim", ErrSimConfig)
	case cfg.Servers < 1:
		return nil, fmt.Errorf("%w: Servers %d < 1", ErrSimConfig, cfg.Servers)
	case cfg.Service == nil:
		return nil, fmt.Errorf("%w: nil Service", ErrSimConfig)
	case cfg.Rate < 0:
		return nil, fmt.Errorf("%w: Rate %v < 0", ErrSimConfig, cfg.Rate)
	case cfg.Limit < 0:
		return nil, fmt.Errorf("%w: Limit %d < 0", ErrSimConfig, cfg.Limit)
	case cfg.Deadline < 0:
		return nil, fmt.Errorf("%w: Deadline %v < 0", ErrSimConfig, cfg.Deadline)
	}
	st := newSimStation(sim, cfg.Servers, cfg.Service, cfg.Rate)
	st.limit = cfg.Limit
	st.deadline = cfg.Deadline
	st.onComplete = cfg.OnComplete
	return &QueueServer{st: st}, nil
}

// SetLimit sets the admission limit on requests in flight; 0 or less
// removes it. Requests already admitted are kept; arrivals are rejected
// while in-flight is at or above the new limit.
func (q *QueueServer) SetLimit(n int) { q.st.limit = max(n, 0) }

// SetArrivalRate sets the Poisson arrival rate in requests per second from
// the current virtual time; 0 or less stops arrivals.
func (q *QueueServer) SetArrivalRate(rate float64) { q.st.setRate(max(rate, 0)) }

// InFlight returns the requests queued or in service now.
func (q *QueueServer) InFlight() int { return q.st.inFlight() }

// Step advances the simulation by window and returns what the window
// measured.
func (q *QueueServer) Step(window time.Duration) QueueStats {
	ws := q.st.collect(window)
	secs := ws.span.Seconds()
	s := QueueStats{
		Window:      ws.span,
		Arrivals:    ws.arrivals,
		Rejected:    ws.rejected,
		Completed:   ws.completed,
		P50:         ws.latP50,
		P90:         ws.latP90,
		P99:         ws.latP99,
		Mean:        ws.latMean,
		MeanWait:    ws.waitMean,
		InFlight:    q.st.inFlight(),
		Queued:      q.st.queued(),
		Utilisation: ws.utilisation,
		Limit:       q.st.limit,
	}
	if secs > 0 {
		s.Throughput = float64(ws.completed) / secs
		s.Goodput = float64(ws.good) / secs
	}
	return s
}

// SetServers changes the number of requests served at once (≥ 1; less
// is taken as 1), as a service that gains or loses capacity: queued
// requests start at once on added servers, and removed ones finish the
// request in hand.
func (q *QueueServer) SetServers(n int) { q.st.setServers(max(n, 1)) }
