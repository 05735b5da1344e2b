package feedback_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gozmp/zmp/toolbox/feedback"
	"github.com/gozmp/zmp/toolbox/proxy"
)

// A simulated pool of 2 workers (10 ms mean service time) is offered
// 1,200 jobs/s, six times what it serves. The loop, stepped on the
// virtual clock in 500 ms windows, holds the queue-wait p99 at 20 ms:
// it adds workers in the first window (more than the load needs, to
// drain the backlog), then gives the extra ones back.
func ExampleWorkerLoop() {
	sim := feedback.NewSim(1)
	pool, err := feedback.NewWorkerPool(sim, feedback.PoolConfig{
		Workers: 2, Service: feedback.Exponential(10 * time.Millisecond), Rate: 1200,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	sp, err := feedback.NewSimPool(pool, false) // both the WaitSource and the Scaler
	if err != nil {
		fmt.Println(err)
		return
	}
	loop, err := feedback.NewWorkerLoop(20*time.Millisecond, sp, sp, feedback.WithWorkerBounds(1, 40))
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := 1; i <= 40; i++ {
		loop.Step(500 * time.Millisecond)
		if st := loop.Stats(); i == 1 || i == 40 {
			fmt.Printf("after %4.1f s: %d workers (needed %d, backlog %d)\n", float64(i)/2, st.Workers, st.Needed, st.Backlog)
		}
	}
	fmt.Printf("scale-ups %d, scale-downs %d\n", loop.Stats().ScaleUps, loop.Stats().ScaleDowns)
	// Output:
	// after  0.5 s: 18 workers (needed 13, backlog 5)
	// after 20.0 s: 14 workers (needed 14, backlog 0)
	// scale-ups 1, scale-downs 2
}

// A WorkerSet starts and stops in-process workers behind a real
// proxy.Queue; a WorkerLoop on a Runner would call SetWorkers with the
// count it wants, reading the queue through a QueueWaitSource.
func ExampleWorkerSet() {
	q, err := proxy.NewQueue("tcp://127.0.0.1:0", "tcp://127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Close()
	echo := proxy.HandlerFunc(func(_ context.Context, body [][]byte) ([][]byte, error) { return body, nil })
	set, err := feedback.NewWorkerSet(q.BackendEndpoint(), echo)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer set.Close()
	ctx := context.Background()
	if err := set.SetWorkers(ctx, 3); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("workers:", set.Workers())

	c, err := proxy.NewQueueClient(q.FrontendEndpoint())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	reply, err := c.Request(rctx, []byte("hello"))
	fmt.Printf("reply: %s %v\n", reply[0], err)

	if err := set.SetWorkers(ctx, 1); err != nil { // each stops after its request
		fmt.Println(err)
		return
	}
	fmt.Println("workers:", set.Workers())
	src, _ := feedback.NewQueueWaitSource(q)
	w, _ := src.MeasureWait(time.Second, 20*time.Millisecond)
	fmt.Println("queued:", w.Queued)
	// Output:
	// workers: 3
	// reply: hello <nil>
	// workers: 1
	// queued: 0
}
