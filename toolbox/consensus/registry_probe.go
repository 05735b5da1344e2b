package consensus

import (
	"context"
	"sync"
	"time"

	"github.com/gozmp/zmp/core"
)

// probeTimeout bounds how long a probe waits for the store's nodes.
const probeTimeout = time.Second

// probe pings every address of the store at once and returns the
// index of the first to answer, or fallback when none does within
// probeTimeout: a node that is down (a refused or silent endpoint)
// would otherwise hold each call for its whole share of the deadline
// before the next address is tried.
func (r *Registry) probe(ctx context.Context, fallback int) int {
	d := probeTimeout
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl)/2)
	}
	pctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	first := make(chan int, len(r.addrs))
	var wg sync.WaitGroup
	for i, a := range r.addrs {
		wg.Go(func() {
			if _, err := r.p.Call(pctx, "zmp.ping", nil, core.At(a)); err == nil {
				first <- i
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	pick := fallback
	select {
	case pick = <-first:
	case <-done:
		select {
		case pick = <-first: // the last answer came with the end
		default:
		}
	}
	cancel()
	<-done
	return pick
}
