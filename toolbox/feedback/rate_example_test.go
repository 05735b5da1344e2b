package feedback_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/feedback"
)

// A publisher paced on the loss its subscribers report. In a real
// system a Runner calls Step every window (feedback.NewRunner(pacer,
// 100*time.Millisecond)) and the subscribers measure their loss with
// SubscriptionLoss and report it back; here the windows are stepped by
// hand with made-up reports.
func ExamplePublishPacer() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	peer, err := core.NewPeer(ctx, "station", core.WithRegistry(core.NewMemRegistry()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer peer.Close()

	reported := 0.20 // the subscribers lose 20 % of what they are sent
	pacer, err := feedback.NewPublishPacer(peer, "weather",
		feedback.WithPacerRate(1, 0.1, 100), // 1 message a second to start with
		feedback.WithPacerBurst(3),
		feedback.WithDropSignal(func() float64 { return reported }))
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range 5 {
		err := pacer.TryPublish([]byte("sunny"))
		fmt.Printf("message %d refused: %v\n", i, errors.Is(err, feedback.ErrRateLimited))
	}
	pacer.Step(100 * time.Millisecond)
	fmt.Printf("after a window losing 20 %%: %.3f messages/s\n", pacer.Stats().Rate)
	reported = 0 // no more loss, but the publisher is quiet: the rate holds
	pacer.Step(100 * time.Millisecond)
	s := pacer.Stats()
	fmt.Printf("after a quiet window without loss: %.3f messages/s; published %d, refused %d\n", s.Rate, s.Published, s.Refused)
	// Output:
	// message 0 refused: false
	// message 1 refused: false
	// message 2 refused: false
	// message 3 refused: true
	// message 4 refused: true
	// after a window losing 20 %: 0.899 messages/s
	// after a quiet window without loss: 0.899 messages/s; published 3, refused 2
}

// A caller whose calls take tokens from a bucket, failing fast when
// there is none. A Runner would call Step every window to set the
// bucket's rate from the share of calls the service sheds.
func ExampleCallRate() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := core.NewMemRegistry()
	srv, err := core.NewPeer(ctx, "server", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	err = srv.HandleFunc("echo", func(ctx context.Context, req *core.Request) ([]byte, error) {
		return req.Body, nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	bucket, err := feedback.NewRateLimiter(1, 2, feedback.WithRateBounds(0.1, 1000))
	if err != nil {
		fmt.Println(err)
		return
	}
	limiter, err := feedback.NewCallRate(bucket, feedback.WithCallRateFailFast(true))
	if err != nil {
		fmt.Println(err)
		return
	}
	client, err := core.NewPeer(ctx, "client", core.WithRegistry(reg), core.WithCallInterceptors(limiter.Interceptor()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	for i := range 3 {
		reply, err := client.Call(ctx, "echo", []byte("hi"))
		fmt.Printf("call %d: %q, rate limited: %v\n", i, reply, errors.Is(err, feedback.ErrRateLimited))
	}
	limiter.Step(100 * time.Millisecond) // nothing shed: the rate rises
	s := limiter.Stats()
	fmt.Printf("sent %d, limited %d, shed share %.0f, rate up: %v\n", s.Calls, s.Limited, s.Shed, s.Rate > 1)
	// Output:
	// call 0: "hi", rate limited: false
	// call 1: "hi", rate limited: false
	// call 2: "", rate limited: true
	// sent 2, limited 1, shed share 0, rate up: true
}

// The publisher pacing loop against a simulated subscriber whose
// capacity steps from 500 to 200 to 1,000 messages a second, next to the
// same publisher unpaced.
func ExampleSimulatePublishRate() {
	rep, err := feedback.SimulatePublishRate(feedback.PublishRateSim{Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	unpaced, _ := rep.Metric("drop_share_unpaced")
	settled, _ := rep.Metric("drop_share_settled")
	delivered, _ := rep.Metric("delivered_of_capacity_settled")
	fmt.Printf("%s: %d windows; dropped unpaced %.0f %%, paced once settled %.0f %%; delivered %.0f %% of capacity\n",
		rep.Name, rep.Trace.Len(), 100*unpaced, 100*settled, 100*delivered)
	// Output:
	// pubrate: 300 windows; dropped unpaced 89 %, paced once settled 3 %; delivered 101 % of capacity
}
