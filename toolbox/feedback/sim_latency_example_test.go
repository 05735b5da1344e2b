package feedback_test

import (
	"fmt"
	"time"

	"github.com/gozmp/zmp/toolbox/feedback"
)

// The load-step scenario shortened to 12 simulated seconds (0.5×, 3×,
// 0.5× of a 1,000 req/s backend), with the latency target's loop beside
// the same load with no limit. WriteSVG and WriteCSV draw and dump the
// trace; `zmptool feedback sim --loop latency` runs the full scenario.
func ExampleSimulateLatency() {
	limiters, err := feedback.LatencyLimiters(100*time.Millisecond, "LatencyTarget")
	if err != nil {
		fmt.Println(err)
		return
	}
	rep, err := feedback.SimulateLatency(feedback.LatencySim{Seed: 1, Duration: 12 * time.Second, Limiters: limiters})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, run := range []string{"LatencyTarget", "unlimited"} {
		p99, _ := rep.Metric(run + " phase 2 p99")
		settle, _ := rep.Metric(run + " phase 2 settle")
		good, _ := rep.Metric(run + " overload goodput share")
		fmt.Printf("%s: p99 at 3× within 110 ms: %v, settled: %v, goodput ≥ 95 %%: %v\n",
			run, p99 <= 110, settle >= 0, good >= 95)
	}
	// Output:
	// LatencyTarget: p99 at 3× within 110 ms: true, settled: true, goodput ≥ 95 %: true
	// unlimited: p99 at 3× within 110 ms: false, settled: false, goodput ≥ 95 %: false
}
