package main

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/gozmp/zmp/core"
)

// loadPlan is an open-loop load: rate calls a second, each with its
// own deadline, for warmup and then measure; only calls sent during
// measure count.
type loadPlan struct {
	rate     float64
	deadline time.Duration
	warmup   time.Duration
	measure  time.Duration
}

// result is what one run measured, over the calls sent in its
// measuring window.
type result struct {
	sent, ok, shed, timedOut, other, skipped int
	latencies                                []time.Duration // of the calls served, sorted
	measure                                  time.Duration
	limits                                   limitSeries // the limiter's, during the run
}

func (r *result) goodput() float64 { return float64(r.ok) / r.measure.Seconds() }

// quantile returns the q-quantile of the served calls' latencies.
func (r *result) quantile(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(q * float64(len(r.latencies)-1))
	return r.latencies[i]
}

// drive sends calls to service on node from c at plan.rate, whatever
// happens to earlier ones (an open loop, as independent users do), and
// waits for the last one. At most maxOutstanding calls are in flight;
// a call due beyond that is skipped and counted.
func drive(ctx context.Context, c *core.Peer, node string, plan loadPlan) *result {
	maxOutstanding := int(plan.rate*plan.deadline.Seconds())*2 + 16
	var (
		mu  sync.Mutex
		res = &result{measure: plan.measure}
		wg  sync.WaitGroup
	)
	sem := make(chan struct{}, maxOutstanding)
	record := func(counted bool, lat time.Duration, err error) {
		if !counted {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			res.ok++
			res.latencies = append(res.latencies, lat)
		case errors.Is(err, core.ErrOverloaded):
			res.shed++
		case errors.Is(err, core.ErrTimeout):
			res.timedOut++
		default:
			res.other++
		}
	}
	start := time.Now()
	end := plan.warmup + plan.measure
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	sent := 0
	for ctx.Err() == nil {
		elapsed := time.Since(start)
		if elapsed >= end {
			break
		}
		for due := int(plan.rate * elapsed.Seconds()); sent < due; sent++ {
			counted := elapsed >= plan.warmup
			select {
			case sem <- struct{}{}:
			default:
				if counted {
					mu.Lock()
					res.skipped++
					mu.Unlock()
				}
				continue
			}
			if counted {
				mu.Lock()
				res.sent++
				mu.Unlock()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				callCtx, cancel := context.WithTimeout(ctx, plan.deadline)
				defer cancel()
				t0 := time.Now()
				_, err := c.Call(callCtx, service, []byte("x"), core.OnNode(node))
				record(counted, time.Since(t0), err)
			}()
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	wg.Wait()
	slices.Sort(res.latencies)
	return res
}
