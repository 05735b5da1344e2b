package proxy

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gozmp/zmp/internal/sock"
)

// closer runs a close function once; every caller of do returns only
// after it has finished.
type closer struct {
	once sync.Once
	done chan struct{}
}

func newCloser() closer { return closer{done: make(chan struct{})} }

func (c *closer) do(f func()) {
	c.once.Do(func() {
		defer close(c.done)
		f()
	})
	<-c.done
}

// outbox counts the messages queued for one peer, so that a drain can
// tell when all of them have been written.
type outbox struct {
	link   *sock.Link
	queued atomic.Uint64
}

// send queues frames for the peer, counting on side.
func (o *outbox) send(frames [][]byte, side *sideCounters) bool {
	if o == nil || !send(o.link, frames, side) {
		return false
	}
	o.queued.Add(1)
	return true
}

// flushed reports whether every message queued was written or the
// link is gone.
func (o *outbox) flushed() bool {
	select {
	case <-o.link.Done():
		return true
	default:
	}
	return o.link.Stats().Sent >= o.queued.Load()
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
