package core

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/gozmp/zmp/internal/sock"
)

// RetryPolicy says how idempotent calls are retried (see Idempotent).
type RetryPolicy struct {
	// MaxAttempts bounds the attempts of one call, the first included,
	// at providers that failed it; moving on from a provider that did
	// not run the call (its connection was not up, it is stopping) is
	// not counted. Default 3.
	MaxAttempts int
	// Backoff is the pause before the first retry, doubled before each
	// next one up to MaxBackoff; each pause is jittered to between half
	// and all of its length, and never runs past the call's deadline.
	// Defaults 10 ms and 250 ms.
	Backoff, MaxBackoff time.Duration
}

// Defaults of RetryPolicy.
const (
	DefaultRetryAttempts   = 3
	DefaultRetryBackoff    = 10 * time.Millisecond
	DefaultRetryMaxBackoff = 250 * time.Millisecond
)

func defaultRetry() RetryPolicy {
	return RetryPolicy{MaxAttempts: DefaultRetryAttempts, Backoff: DefaultRetryBackoff, MaxBackoff: DefaultRetryMaxBackoff}
}

// WithRetry sets how idempotent calls are retried. MaxAttempts 1 turns
// retries off. Defaults: see RetryPolicy.
func WithRetry(rp RetryPolicy) Option {
	return func(c *config) error {
		if rp.MaxAttempts < 1 || rp.Backoff <= 0 || rp.MaxBackoff < rp.Backoff {
			return fmt.Errorf("core: retry policy %+v: want at least 1 attempt and 0 < Backoff <= MaxBackoff", rp)
		}
		c.retry = rp
		return nil
	}
}

// retryVerdict is what a call does after a failed attempt.
type retryVerdict int

const (
	giveUp         retryVerdict = iota
	retryNow                    // the provider did not run it: another may, at once
	retryElsewhere              // that provider does not serve it: try another at once
	retryLater                  // an idempotent call that failed: try again after a pause
)

// retry decides what follows err, the failure of attempt number tries;
// others reports providers not yet tried by this call.
func (c *client) retry(ctx context.Context, oc *outCall, err error, tries int, others bool) retryVerdict {
	if ctx.Err() != nil || !time.Now().Before(oc.deadline) {
		return giveUp
	}
	switch {
	case errors.Is(err, ErrUnknownService) && others:
		// The view is stale for this node (it withdrew the service, or
		// another instance now answers at its endpoint and is still
		// setting up): the handler did not run, another may serve it.
		return retryElsewhere
	case notRun(err):
		return retryNow
	case oc.o.idempotent && tries < c.p.cfg.retry.MaxAttempts && retryable(err):
		return retryLater
	}
	return giveUp
}

// retryable reports failures after which an idempotent call is tried
// again: the connection broke, or the provider refused or shed it.
func retryable(err error) bool {
	var re *RemoteError
	if errors.As(err, &re) {
		return re.Code == CodeOverloaded || re.Code == CodeUnavailable
	}
	return errors.Is(err, ErrConnectionLost) || errors.Is(err, ErrNotSent)
}

// backoff pauses before retry number tries (1 for the first); false
// when ctx or the deadline ends first.
func (c *client) backoff(ctx context.Context, oc *outCall, tries int) bool {
	rp := c.p.cfg.retry
	d := rp.Backoff << min(tries-1, 20)
	if d > rp.MaxBackoff || d <= 0 {
		d = rp.MaxBackoff
	}
	d = d/2 + rand.N(d/2+1)
	if time.Until(oc.deadline) <= d {
		return false
	}
	return sleepCtx(ctx, d) && c.p.ctx.Err() == nil
}

// hedged sends oc to one provider and, when it has not answered after
// the hedge delay, a copy to another; the first reply wins and the
// other attempt is cancelled (its provider gets CANCEL). A failure
// waits for the other attempt, which may still succeed.
func (c *client) hedged(ctx context.Context, oc *outCall) result {
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan result, 2)
	first := make(chan *providerConn, 1) // where the first attempt went
	go func() { results <- c.attempt(hctx, oc, nil, first) }()
	t := time.NewTimer(oc.o.hedge)
	defer t.Stop()
	select {
	case r := <-results:
		return r
	case <-t.C:
	}
	var avoid *providerConn
	select {
	case avoid = <-first:
	default:
		// The first attempt has not been sent yet (still choosing or
		// connecting): a hedge now could go to the provider it is about
		// to use. Wait until it is sent, then give it the hedge delay.
		select {
		case avoid = <-first:
		case r := <-results:
			return r
		}
		t.Reset(oc.o.hedge)
		select {
		case r := <-results:
			return r
		case <-t.C:
		}
	}
	running := 1
	if time.Now().Before(oc.deadline) {
		c.hedges.Add(1)
		running++
		go func() { results <- c.attempt(hctx, oc, avoid, nil) }()
	}
	var r result
	for ; running > 0; running-- {
		got := <-results
		if errors.Is(got.err, errNoHedge) {
			c.hedges.Add(^uint64(0)) // not sent after all
			continue                 // the first attempt's result decides
		}
		r = got
		if r.err == nil {
			if r.pc != avoid {
				c.hedgeWins.Add(1)
			}
			cancel()
			for ; running > 1; running-- {
				<-results
			}
			return r
		}
	}
	return r
}

// errNoHedge ends a hedge that has no other provider to go to.
var errNoHedge = errors.New("core: no other provider to hedge to")

// directNode is the registry entry a direct call (At) uses for endpoint.
func directNode(addr string) (NodeInfo, error) {
	endpoint, key := splitKeyedAddress(addr)
	if _, err := sock.ParseEndpoint(endpoint); err != nil {
		return NodeInfo{}, fmt.Errorf("core: At(%q): %w", addr, err)
	}
	if key != "" {
		if _, err := ParseKey(key); err != nil {
			return NodeInfo{}, fmt.Errorf("core: At(%q): %w", addr, err)
		}
	}
	return NodeInfo{Name: endpoint, ID: "direct:" + addr, RPC: endpoint, Key: key}, nil
}
