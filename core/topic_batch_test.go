package core

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestTopicStalledSubscriptionBesideHealthy: two subscriptions of one
// peer share its connection to the publisher. One is never read; the
// other is read at once. The stalled one keeps its 10 messages and
// drops the rest, counted; the healthy one gets every message, in
// order: the connection's reader neither waits for the stalled
// subscription nor loses the healthy one's messages to it.
func TestTopicStalledSubscriptionBesideHealthy(t *testing.T) {
	eachTransport(t, func(t *testing.T, e *tenv) {
		pub, cli := e.peer("talker"), e.peer("listener")
		mustAdvertise(t, pub, "t")
		const n = 20000
		stalled := e.subscribe(cli, "t", WithQueue(10, DropNewest))
		healthy := e.subscribe(cli, "t", WithQueue(n, DropNewest))
		ctx := e.ctx(30 * time.Second)
		waitConnected(t, ctx, stalled, 1)
		waitConnected(t, ctx, healthy, 1)
		var (
			wg      sync.WaitGroup
			got     int
			lastSeq uint64
			order   error
		)
		wg.Go(func() {
			for m := range healthy.C() {
				if m.Seq <= lastSeq && order == nil {
					order = fmt.Errorf("seq %d after %d", m.Seq, lastSeq)
				}
				lastSeq = m.Seq
				if got++; got == n {
					return
				}
			}
		})
		start := time.Now()
		body := make([]byte, 64)
		// Bursts of 500, each once the healthy subscription has the
		// last: well inside the publisher's queue (1000), so that nothing
		// is lost on the way.
		for i := 1; i <= n; i++ {
			mustPublish(t, pub, "t", body)
			if i%500 == 0 {
				waitCond(t, 30*time.Second, fmt.Sprintf("the healthy subscription to get message %d", i), func() bool {
					return healthy.Stats().Received >= uint64(i)
				})
			}
		}
		elapsed := time.Since(start)
		hs, ss := healthy.Stats(), stalled.Stats()
		t.Logf("%d messages in %v: healthy %+v, stalled %+v", n, elapsed.Round(time.Millisecond), hs, ss)
		if hs.Dropped != 0 || hs.Missed != 0 || hs.Received != n {
			t.Errorf("healthy subscription: %+v, want all %d received", hs, n)
		}
		if ss.Received != 10 || ss.Received+ss.Dropped+ss.Missed != n {
			t.Errorf("stalled subscription: %+v, want 10 received and the rest of %d dropped or missed", ss, n)
		}
		healthy.Close()
		wg.Wait()
		if order != nil {
			t.Errorf("healthy subscription out of order: %v", order)
		}
	})
}
