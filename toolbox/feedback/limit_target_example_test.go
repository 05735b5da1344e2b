package feedback_test

import (
	"fmt"
	"time"

	"github.com/gozmp/zmp/toolbox/feedback"
)

// A LatencyTarget holds the p99 of a simulated backend of 1,000 req/s
// (10 servers, 10 ms mean service) at 100 ms while it is offered three
// times that load. Every completed request is a sample for the limiter,
// which then sets the backend's admission limit; the limiter's windows
// run on the simulation's virtual clock.
func ExampleNewLatencyTarget() {
	sim := feedback.NewSim(1)
	lim, err := feedback.NewLatencyTarget(100*time.Millisecond, feedback.WithClock(sim.Now))
	if err != nil {
		fmt.Println(err)
		return
	}
	var q *feedback.QueueServer
	q, err = feedback.NewQueueServer(sim, feedback.QueueConfig{
		Servers: 10, Service: feedback.Exponential(10 * time.Millisecond), Rate: 3000,
		Deadline: 100 * time.Millisecond, // goodput: completions within the target
		OnComplete: func(latency time.Duration, inflight int) {
			lim.OnSample(latency, inflight, false)
			q.SetLimit(lim.Limit())
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	q.SetLimit(lim.Limit())
	var good float64
	for i := range 100 { // 10 simulated seconds
		s := q.Step(100 * time.Millisecond)
		if i >= 50 {
			good += s.Goodput / 50
		}
	}
	w, _ := lim.Last()
	fmt.Println("p99 within 10% of 100ms:", w.Latency > 90*time.Millisecond && w.Latency < 110*time.Millisecond)
	fmt.Println("limit between 40 and 80:", lim.Limit() >= 40 && lim.Limit() <= 80)
	fmt.Println("goodput at least 950 req/s:", good >= 950)
	// Output:
	// p99 within 10% of 100ms: true
	// limit between 40 and 80: true
	// goodput at least 950 req/s: true
}
