package core

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// The deadline sweeper rests while no call waits, and a call made then
// wakes it: a call without a deadline of its own to a handler that
// ignores its context still ends after WithCallTimeout, every time the
// caller comes back from being idle, and with many calls at once.
func TestSweeperRestsAndWakes(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("slow")
		release := make(chan struct{})
		defer close(release)
		mustHandle(t, srv, "stuck", func(context.Context, *Request) ([]byte, error) {
			select { // ignores its context: only the caller's sweeper ends the call
			case <-release:
			case <-time.After(20 * time.Second):
			}
			return nil, nil
		})
		provideEcho(t, srv, "echo")
		const timeout = 200 * time.Millisecond
		cli := e.peer("caller", WithCallTimeout(timeout))
		ctx := e.ctx(time.Minute)
		if _, err := cli.Call(ctx, "echo", nil); err != nil {
			t.Fatal(err)
		}
		for round := range 3 {
			waitCond(t, 5*time.Second, "the sweeper resting", cli.cli.sweepIdle.Load)
			var wg sync.WaitGroup
			for range 1 + 7*round {
				wg.Go(func() {
					start := time.Now()
					_, err := cli.Call(context.Background(), "stuck", nil)
					if took := time.Since(start); !errors.Is(err, ErrTimeout) || took > 5*time.Second || took < timeout {
						t.Errorf("round %d: %v after %v, want ErrTimeout after %v", round, err, took, timeout)
					}
				})
			}
			wg.Wait()
		}
	})
}
