package feedback_test

import (
	"fmt"
	"time"

	"github.com/gozmp/zmp/toolbox/feedback"
)

// A PI controller holds a first-order process (gain 2, time constant
// 1 s) at a set point, its output limited to what the actuator can do;
// then the set point moves without a bump in the output.
func ExamplePID() {
	pid, err := feedback.NewPID(
		feedback.WithGains(2, 2, 0),
		feedback.WithSetpoint(10),
		feedback.WithOutputLimits(0, 8),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	const dt = 10 * time.Millisecond
	y := 0.0 // the process's output, measured
	run := func(d time.Duration) {
		for t := time.Duration(0); t < d; t += dt {
			u := pid.Update(y, dt)
			y += (2*u - y) * dt.Seconds() // τ = 1 s
		}
	}
	run(10 * time.Second)
	fmt.Printf("measurement %.2f, actuation %.2f\n", y, pid.Output())

	// The proportional term alone would jump by Kp·Δr = 4; the output
	// moves by one step of integral action, Ki·Δr·dt = 0.04.
	before := pid.Output()
	_ = pid.SetSetpoint(12)
	fmt.Printf("jump at the set-point change: %.2f\n", pid.Update(y, dt)-before)
	run(10 * time.Second)
	fmt.Printf("measurement %.2f, actuation %.2f\n", y, pid.Output())
	// Output:
	// measurement 10.00, actuation 5.00
	// jump at the set-point change: 0.04
	// measurement 12.00, actuation 6.00
}
