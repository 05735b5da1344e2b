package feedback_test

import (
	"fmt"
	"time"

	"github.com/gozmp/zmp/toolbox/feedback"
)

// An Envoy-style gradient limiter sets the admission limit of a
// simulated backend of 1,000 req/s offered twice that load. It reads
// the simulator's virtual clock, and every completed request is a
// sample: the simulator's OnComplete hook reports it, and the new limit
// applies at once.
func ExampleNewEnvoyGradient() {
	sim := feedback.NewSim(1)
	lim, err := feedback.NewEnvoyGradient(feedback.WithClock(sim.Now), feedback.WithInitialLimit(20))
	if err != nil {
		fmt.Println(err)
		return
	}
	var q *feedback.QueueServer
	q, err = feedback.NewQueueServer(sim, feedback.QueueConfig{
		Servers: 10, Service: feedback.Exponential(10 * time.Millisecond), Rate: 2000,
		Limit: lim.Limit(),
		OnComplete: func(latency time.Duration, inflight int) {
			lim.OnSample(latency, inflight, false)
			q.SetLimit(lim.Limit())
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	q.Step(10 * time.Second) // settle
	s := q.Step(20 * time.Second)
	st := lim.Stats()
	fmt.Println("limit between 10 and 40:", st.Limit >= 10 && st.Limit <= 40)
	fmt.Println("min RTT measured:", st.MinRTT > 0)
	fmt.Println("goodput at least 950 req/s:", s.Throughput >= 950)
	fmt.Println("p99 under 100 ms:", s.P99 < 100*time.Millisecond)
	// Output:
	// limit between 10 and 40: true
	// min RTT measured: true
	// goodput at least 950 req/s: true
	// p99 under 100 ms: true
}
