package proxy_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gozmp/zmp/toolbox/proxy"
)

// A control loop reads Queue.WaitStats every window and keeps the
// previous read: the difference is the window's arrivals, dispatches,
// wait percentiles and mean service time. Here five requests wait in a
// paused queue for at least 100 ms each.
func ExampleQueue_WaitStats() {
	q, err := proxy.NewQueue("tcp://127.0.0.1:0", "tcp://127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Close()
	w, err := proxy.NewWorker(q.BackendEndpoint(), proxy.HandlerFunc(func(_ context.Context, body [][]byte) ([][]byte, error) {
		return body, nil
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	for q.Stats().Idle == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	prev := q.WaitStats()
	q.Pause()
	done := make(chan error, 5)
	for range 5 {
		go func() {
			c, err := proxy.NewQueueClient(q.FrontendEndpoint())
			if err != nil {
				done <- err
				return
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err = c.Request(ctx, []byte("job"))
			done <- err
		}()
	}
	for q.WaitStats().Queued < 5 {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	fmt.Println("queued:", q.WaitStats().Queued, "oldest waited ≥ 100 ms:", q.WaitStats().OldestWait >= 100*time.Millisecond)
	q.Resume()
	for range 5 {
		if err := <-done; err != nil {
			fmt.Println(err)
			return
		}
	}
	win := q.WaitStats().Since(prev)
	fmt.Println("arrived:", win.Arrived, "dispatched:", win.Dispatched)
	fmt.Println("p99 ≥ 100 ms:", win.Quantile(0.99) >= 100*time.Millisecond)
	fmt.Println("waited past 50 ms:", win.Over(50*time.Millisecond))
	// Output:
	// queued: 5 oldest waited ≥ 100 ms: true
	// arrived: 5 dispatched: 5
	// p99 ≥ 100 ms: true
	// waited past 50 ms: 5
}
