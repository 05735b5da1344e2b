package feedback_test

import (
	"fmt"
	"time"

	"github.com/gozmp/zmp/toolbox/feedback"
)

// A Vegas limiter sets the admission limit of a simulated backend of
// 1,000 req/s offered twice that load. Each 100 ms window gives the
// limiter one aggregated sample: the window's mean latency, and the
// limit as the in-flight count when the window had to refuse arrivals.
func ExampleNewVegas() {
	lim, err := feedback.NewVegas(feedback.WithInitialLimit(20))
	if err != nil {
		fmt.Println(err)
		return
	}
	sim := feedback.NewSim(1)
	q, err := feedback.NewQueueServer(sim, feedback.QueueConfig{
		Servers: 10, Service: feedback.Exponential(10 * time.Millisecond), Rate: 2000,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	var done int
	for i := range 300 { // 30 simulated seconds
		q.SetLimit(lim.Limit())
		s := q.Step(100 * time.Millisecond)
		inflight := s.InFlight
		if s.Rejected > 0 {
			inflight = max(inflight, s.Limit)
		}
		lim.OnSample(s.Mean, inflight, false)
		if i >= 100 {
			done += s.Completed
		}
	}
	fmt.Println("limit between 10 and 40:", lim.Limit() >= 10 && lim.Limit() <= 40)
	fmt.Println("goodput at least 900 req/s:", done/20 >= 900)
	// Output:
	// limit between 10 and 40: true
	// goodput at least 900 req/s: true
}
