package core

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Request.Received is when the node read the request: a request that
// waited in the queue for the one handler has a Received well before
// its handler started, and every Received lies between the call and
// its reply.
func TestRequestReceivedIncludesQueueWait(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		srv := e.peer("srv", WithConcurrency(1, 32))
		var mu sync.Mutex
		var waits []time.Duration
		var received []time.Time
		mustHandle(t, srv, "work", func(ctx context.Context, r *Request) ([]byte, error) {
			mu.Lock()
			waits = append(waits, time.Since(r.Received))
			received = append(received, r.Received)
			mu.Unlock()
			time.Sleep(30 * time.Millisecond)
			return nil, nil
		})
		cli := e.peer("cli")
		if _, err := cli.Call(e.ctx(10*time.Second), "work", nil); err != nil { // connect first
			t.Fatal(err)
		}
		mu.Lock()
		waits, received = waits[:0], received[:0]
		mu.Unlock()
		before := time.Now()
		var chans []<-chan error
		for range 5 {
			chans = append(chans, callAsync(e.ctx(10*time.Second), cli, "work", nil))
		}
		for _, ch := range chans {
			if err := <-ch; err != nil {
				t.Fatal(err)
			}
		}
		after := time.Now()
		mu.Lock()
		defer mu.Unlock()
		var longest time.Duration
		for i, w := range waits {
			longest = max(longest, w)
			if received[i].Before(before) || received[i].After(after) {
				t.Fatalf("Received %v outside the calls' span [%v, %v]", received[i], before, after)
			}
		}
		// Five requests on one handler of 30 ms: the last one waited for
		// the four before it, about 120 ms.
		if longest < 50*time.Millisecond {
			t.Fatalf("longest wait seen through Received %v, want ≥ 50ms: %v", longest, waits)
		}
	})
}
