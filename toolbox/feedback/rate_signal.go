package feedback

import (
	"math"
	"sync"

	"github.com/gozmp/zmp/core"
)

// SubscriptionLoss returns a signal for WithDropSignal measured on the
// subscriber's side: each call returns the share of the messages that
// reached sub since the previous call and were lost, dropped from its
// full queue or missed (dropped by the publisher for it), or NaN when
// none arrived. The first call measures from the moment
// SubscriptionLoss was called. A subscriber in another process computes
// it there and reports it to the publisher, over a topic or a service;
// the returned function is safe for concurrent use.
func SubscriptionLoss(sub *core.Subscription) func() float64 {
	var mu sync.Mutex
	prev := sub.Stats()
	return func() float64 {
		mu.Lock()
		defer mu.Unlock()
		s := sub.Stats()
		// With DropOldest a message counted as received in an earlier
		// window can move to dropped in this one: count in signed
		// arithmetic and keep the share within [0, 1].
		lost := int64(s.Dropped-prev.Dropped) + int64(s.Missed-prev.Missed)
		total := lost + int64(s.Received-prev.Received)
		prev = s
		if total <= 0 {
			return math.NaN()
		}
		return math.Min(1, math.Max(0, float64(lost)/float64(total)))
	}
}
