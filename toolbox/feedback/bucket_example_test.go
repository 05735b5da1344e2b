package feedback_test

import (
	"fmt"

	"github.com/gozmp/zmp/toolbox/feedback"
)

// A controller's actuation sets a token bucket's rate, which stays
// within the bounds given; the limiter counts what it admits and
// refuses.
func ExampleRateLimiter() {
	lim, err := feedback.NewRateLimiter(0.01, 2, feedback.WithRateBounds(0.01, 500))
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := 0; i < 3; i++ {
		fmt.Println("allowed:", lim.Allow())
	}
	// A controller asks for more than the upper bound allows.
	fmt.Println("rate applied:", lim.SetRate(2000))
	s := lim.Stats()
	fmt.Printf("allowed %d, denied %d, rate changes %d, clamped %d\n",
		s.Allowed, s.Denied, s.RateChanges, s.RateClamped)
	// Output:
	// allowed: true
	// allowed: true
	// allowed: false
	// rate applied: 500
	// allowed 2, denied 1, rate changes 1, clamped 1
}
