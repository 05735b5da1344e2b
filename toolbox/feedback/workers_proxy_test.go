package feedback

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gozmp/zmp/toolbox/proxy"
)

// waitFor polls cond every 10 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// queueLoad runs clients against a Queue's frontend, each sending a
// request, waiting for its reply, pausing think, until stopped.
type queueLoad struct {
	cancel         context.CancelFunc
	wg             sync.WaitGroup
	sent, answered atomic.Uint64
	errs           chan error
	once           sync.Once
	err            error
}

func startQueueLoad(t *testing.T, endpoint string, clients int, think time.Duration) *queueLoad {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &queueLoad{cancel: cancel, errs: make(chan error, clients)}
	for range clients {
		c, err := proxy.NewQueueClient(endpoint)
		if err != nil {
			t.Fatal(err)
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer c.Close()
			for ctx.Err() == nil {
				l.sent.Add(1)
				rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
				_, err := c.Request(rctx, []byte("job"))
				rcancel()
				if err != nil {
					l.errs <- err
					return
				}
				l.answered.Add(1)
				time.Sleep(think)
			}
		}()
	}
	return l
}

// stop ends the load after every request in progress is answered; it
// is idempotent.
func (l *queueLoad) stop() error {
	l.once.Do(func() {
		l.cancel()
		l.wg.Wait()
		close(l.errs)
		l.err = <-l.errs // nil when no client failed
	})
	return l.err
}

// measure returns the queue's p99 wait over the next d.
func measureWait(q *proxy.Queue, d time.Duration) proxy.WaitStats {
	before := q.WaitStats()
	time.Sleep(d)
	return q.WaitStats().Since(before)
}

// TestWorkersRealQueue runs the loop on a real proxy.Queue with
// in-process workers whose handler sleeps 8 ms. Clients offer more
// than the one starting worker serves; the loop adds workers and the
// wait falls; when the load stops, it removes them again, and no
// request is lost on the way.
func TestWorkersRealQueue(t *testing.T) {
	q, err := proxy.NewQueue("tcp://127.0.0.1:0", "tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	handler := proxy.HandlerFunc(func(ctx context.Context, body [][]byte) ([][]byte, error) {
		select {
		case <-time.After(8 * time.Millisecond):
			return body, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	set, err := NewWorkerSet(q.BackendEndpoint(), handler)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if err := set.SetWorkers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if !waitFor(10*time.Second, func() bool { return q.Stats().Workers == 1 }) {
		t.Fatalf("worker not registered: %+v", q.Stats())
	}

	load := startQueueLoad(t, q.FrontendEndpoint(), 16, 20*time.Millisecond)
	defer load.stop()
	before := measureWait(q, time.Second)

	src, err := NewQueueWaitSource(q)
	if err != nil {
		t.Fatal(err)
	}
	const target = 20 * time.Millisecond
	loop, err := NewWorkerLoop(target, src, set, WithWorkerBounds(1, 24),
		WithScaleDownDelay(time.Second), WithDrainTime(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	run, err := NewRunner(loop, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	if !waitFor(30*time.Second, func() bool { return set.Workers() >= 4 }) {
		t.Fatalf("loop did not add workers: %+v", loop.Stats())
	}
	time.Sleep(2 * time.Second) // let the backlog drain
	after := measureWait(q, time.Second)
	peak := set.Workers()
	t.Logf("one worker: p99 wait %v (%d dispatched); loop at %d workers: p99 wait %v (%d dispatched), mean service %v",
		before.Quantile(0.99), before.Dispatched, peak, after.Quantile(0.99), after.Dispatched, after.MeanService())
	if after.Quantile(0.99) >= before.Quantile(0.99)/2 {
		t.Errorf("p99 wait %v with the loop, %v with one worker: want it at least halved", after.Quantile(0.99), before.Quantile(0.99))
	}

	if err := load.stop(); err != nil {
		t.Fatalf("a request failed: %v", err)
	}
	if !waitFor(30*time.Second, func() bool { return set.Workers() == 1 }) {
		t.Fatalf("idle queue: still %d workers (%+v)", set.Workers(), loop.Stats())
	}
	run.Close()
	st := q.Stats()
	t.Logf("sent %d answered %d; queue retried %d failed %d refused %d; loop %d scale-ups %d scale-downs",
		load.sent.Load(), load.answered.Load(), st.Retried, st.Failed, st.Refused, loop.Stats().ScaleUps, loop.Stats().ScaleDowns)
	if load.sent.Load() != load.answered.Load() || st.Failed != 0 || st.Refused != 0 {
		t.Fatalf("requests lost: sent %d answered %d, stats %+v", load.sent.Load(), load.answered.Load(), st)
	}
	if err := set.Close(); err != nil {
		t.Fatal(err)
	}
	if err := set.SetWorkers(context.Background(), 2); !errors.Is(err, ErrWorkerSetClosed) {
		t.Fatalf("SetWorkers after Close: %v", err)
	}
}

// TestWorkersSetStopStuckWorker stops a worker whose handler never
// returns: the stop gives up after the stop timeout and closes it, and
// the queue sends its request to the next worker, so it is not lost.
func TestWorkersSetStopStuckWorker(t *testing.T) {
	q, err := proxy.NewQueue("tcp://127.0.0.1:0", "tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	stuck := make(chan struct{}, 1)
	var first atomic.Bool
	handler := proxy.HandlerFunc(func(ctx context.Context, body [][]byte) ([][]byte, error) {
		if first.CompareAndSwap(false, true) {
			stuck <- struct{}{}
			<-ctx.Done() // stuck until its worker closes
			return nil, ctx.Err()
		}
		return body, nil
	})
	set, err := NewWorkerSet(q.BackendEndpoint(), handler, WithStopTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	ctx := context.Background()
	if err := set.SetWorkers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if !waitFor(10*time.Second, func() bool { return q.Stats().Workers == 1 }) {
		t.Fatal("worker not registered")
	}
	c, err := proxy.NewQueueClient(q.FrontendEndpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reply := make(chan error, 1)
	go func() {
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		_, err := c.Request(rctx, []byte("x"))
		reply <- err
	}()
	<-stuck
	start := time.Now()
	if err := set.SetWorkers(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Fatalf("stop returned after %v, before the stop timeout, with a request in progress", took)
	}
	if err := set.SetWorkers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := <-reply; err != nil {
		t.Fatalf("request after its worker was stopped: %v", err)
	}
	if st := q.Stats(); st.Retried != 1 || st.Failed != 0 {
		t.Fatalf("queue stats %+v, want the request retried once", st)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := set.SetWorkers(cctx, 3); err != nil { // starting needs no ctx
		t.Fatal(err)
	}
	if err := set.SetWorkers(cctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("stop with an ended ctx: %v", err)
	}
	if set.Workers() != 1 {
		t.Fatalf("%d workers, want 1", set.Workers())
	}
}
