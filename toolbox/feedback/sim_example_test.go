package feedback_test

import (
	"fmt"
	"os"
	"time"

	"github.com/gozmp/zmp/toolbox/feedback"
)

// A backend of 1,000 req/s (10 servers, 10 ms mean service) offered 3,000
// req/s for five seconds, once without an admission limit and once with a
// limit of 20 in flight, driven window by window on a virtual clock.
func ExampleQueueServer() {
	for _, limit := range []int{0, 20} {
		sim := feedback.NewSim(42)
		q, err := feedback.NewQueueServer(sim, feedback.QueueConfig{
			Servers: 10,
			Service: feedback.Exponential(10 * time.Millisecond),
			Rate:    3000,
			Limit:   limit,
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		var last feedback.QueueStats
		for range 50 {
			last = q.Step(100 * time.Millisecond)
		}
		fmt.Printf("limit %2d: p99 %s, throughput ~%.0f req/s, rejected ~%.0f %%, in flight %s\n",
			limit, skBucket(last.P99), skRound100(last.Throughput),
			skRound10(100*float64(last.Rejected)/float64(last.Arrivals)), skInFlight(last.InFlight))
	}

	// A trace of a loop, written as CSV (and as SVG with WriteSVG).
	tr, _ := feedback.NewTrace()
	tr.Add(100*time.Millisecond, 50, 48.5, 20)
	tr.WriteCSV(os.Stdout)
	// Output:
	// limit  0: p99 > 1s, throughput ~1000 req/s, rejected ~0 %, in flight > 1000
	// limit 20: p99 < 100ms, throughput ~1000 req/s, rejected ~70 %, in flight ≤ 20
	// time_s,setpoint,measurement,actuation
	// 0.100000,50.000000,48.500000,20.000000
}

func skBucket(d time.Duration) string {
	switch {
	case d > time.Second:
		return "> 1s"
	case d < 100*time.Millisecond:
		return "< 100ms"
	}
	return "between 100ms and 1s"
}

func skInFlight(n int) string {
	if n > 1000 {
		return "> 1000"
	}
	if n <= 20 {
		return "≤ 20"
	}
	return fmt.Sprint(n)
}

func skRound100(v float64) float64 { return float64(int(v/100+0.5)) * 100 }
func skRound10(v float64) float64  { return float64(int(v/10+0.5)) * 10 }
