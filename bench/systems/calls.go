package systems

import (
	"context"
	"errors"
	"sync"
	"time"
)

// callTimeout bounds one call where the system takes a timeout.
const callTimeout = 10 * time.Second

// parallel runs n goroutines, each making one blocking call at a time
// until ctx ends: how a library with a synchronous, goroutine-safe call
// (zmp, net/rpc, nats) keeps n calls in flight. It returns the first
// error not caused by ctx ending.
func parallel(ctx context.Context, n int, call func(ctx context.Context) error, rec *Recorder) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				start := time.Now()
				if err := call(ctx); err != nil {
					if ctx.Err() == nil {
						once.Do(func() { first = err; cancel() })
					}
					return
				}
				rec.Done(time.Since(start))
			}
		})
	}
	wg.Wait()
	return first
}

// pipeline keeps n requests in flight over a connection that answers in
// order, from one goroutine: send writes one request, recv reads one
// reply. This is how a socket-level system (raw TCP, a DEALER socket)
// keeps n calls in flight. Replies still due when ctx ends are read
// before it returns.
func pipeline(ctx context.Context, n int, send, recv func() error, rec *Recorder) error {
	if n < 1 {
		return errors.New("pipeline: no calls in flight")
	}
	sent := make([]time.Time, n) // ring of send times, oldest at head
	head, pending := 0, 0
	for {
		for pending < n && ctx.Err() == nil {
			sent[(head+pending)%n] = time.Now()
			if err := send(); err != nil {
				return err
			}
			pending++
		}
		if pending == 0 {
			return nil
		}
		if err := recv(); err != nil {
			return err
		}
		rec.Done(time.Since(sent[head]))
		head, pending = (head+1)%n, pending-1
	}
}

// stopped reports, every 64th message, whether ctx has ended; publish
// loops use it to keep the check off the per-message path.
func stopped(ctx context.Context, i int) bool { return i&63 == 0 && ctx.Err() != nil }
