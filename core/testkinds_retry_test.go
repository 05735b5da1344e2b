package core

import (
	"context"
	"time"
)

// retryBlockKind provides "work", which leaves the mark "started" and
// then waits for its call to end: a provider a test SIGKILLs while it
// holds a call.
func retryBlockKind() Behavior {
	return Behavior{Setup: func(_ context.Context, p *Peer) error {
		return p.HandleFunc("work", func(ctx context.Context, _ *Request) ([]byte, error) {
			if err := leaveMark(p, "started", time.Now().String()); err != nil {
				return nil, err
			}
			<-ctx.Done()
			return nil, ctx.Err()
		})
	}}
}
