package feedback_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gozmp/zmp/core"
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

// The autoscaling scenario of issue 13, shortened: load of 0.5×, 1.5×
// and 0.8× the capacity of 10 workers, 20 s each, the loop holding the
// queue-wait p99 at 20 ms; beside it the same load on the 10 workers
// fixed.
func ExampleSimulateWorkers() {
	rep, err := feedback.SimulateWorkers(feedback.WorkersSim{Seed: 1, StepLength: 20 * time.Second, Settle: 8 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	for k := 1; k <= 3; k++ {
		get := func(name string) float64 {
			v, _ := rep.Metric(fmt.Sprintf("step%d_%s", k, name))
			return v
		}
		fmt.Printf("load %.1f×: p99 %4.1f ms, %4.1f workers (needed %2.0f), %.0f reversals; fixed 10 workers: p99 %7.1f ms\n",
			get("load"), get("wait_p99_ms"), get("workers_mean"), get("needed_workers"), get("reversals"), get("fixed_wait_p99_ms"))
	}
	// Output:
	// load 0.5×: p99 18.1 ms,  7.0 workers (needed  7), 0 reversals; fixed 10 workers: p99     3.1 ms
	// load 1.5×: p99 10.7 ms, 18.0 workers (needed 18), 1 reversals; fixed 10 workers: p99  6563.5 ms
	// load 0.8×: p99 11.0 ms, 11.0 workers (needed 10), 0 reversals; fixed 10 workers: p99 10112.8 ms
}

// A NodeSet scales worker nodes made by a core.Launcher; here they run
// in this process (core.WithInProcess) to keep the example short, as
// child processes they need the program to call RunChild first thing.
func ExampleNodeSet() {
	q, err := proxy.NewQueue("tcp://127.0.0.1:0", "tcp://127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer q.Close()
	l, err := core.NewLauncher()
	if err != nil {
		fmt.Println(err)
		return
	}
	echo := proxy.HandlerFunc(func(_ context.Context, body [][]byte) ([][]byte, error) { return body, nil })
	err = l.RegisterArgs("echo-worker", func(args []string) (core.Behavior, error) {
		return feedback.WorkerBehavior(args[0], echo), nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if code, isChild := l.RunChild(); isChild {
		fmt.Println("exit", code) // a real program calls os.Exit(code)
		return
	}
	set, err := feedback.NewNodeSet(l, "echo-worker", core.WithKindArgs(q.BackendEndpoint()),
		core.WithInProcess(true), core.WithRegistry(core.NewMemRegistry()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer set.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, n := range []int{2, 1} {
		if err := set.SetWorkers(ctx, n); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("nodes:", set.Workers())
	}
	// Output:
	// nodes: 2
	// nodes: 1
}
