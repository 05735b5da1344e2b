package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/feedback"
)

// service is the name of the overloaded service; calls are pinned to
// the node, so other programs on the host do not matter.
const service = "feedback-overload.work"

// statsName is where the service reports its limiter's counters in
// zmp.stats.
const statsName = "feedback.limiter"

// limiterFactory makes a limiter for a service whose p99 should stay
// under target and whose capacity is about workers requests at once.
type limiterFactory func(target time.Duration, workers int) (feedback.Limiter, error)

// limiterFactories lists the limiters -limiter may name ("none" is
// the service without one). Add an entry here for another limiter.
func limiterFactories() map[string]limiterFactory {
	return map[string]limiterFactory{
		"aimd": func(target time.Duration, workers int) (feedback.Limiter, error) {
			// A round trip above half the target counts as a drop. AIMD
			// gains one per good sample and loses a tenth of its limit
			// per drop, so it settles where about one sample in five is
			// a drop: near the 80th percentile, not the 99th, so the
			// timeout must leave the tail room.
			return feedback.NewAIMD(feedback.WithTimeout(target/2), feedback.WithInitialLimit(2*workers))
		},
		"vegas": func(time.Duration, int) (feedback.Limiter, error) {
			return feedback.NewVegas()
		},
		"gradient2": func(time.Duration, int) (feedback.Limiter, error) {
			return feedback.NewGradient2()
		},
		// The latency loop: p99 held by admission control at nine
		// tenths of the target, a margin for the p99's noise, so that it
		// stays under the target rather than around it.
		"target": func(target time.Duration, _ int) (feedback.Limiter, error) {
			return feedback.NewLatencyTarget(target * 9 / 10)
		},
		"envoy": func(time.Duration, int) (feedback.Limiter, error) {
			return feedback.NewEnvoyGradient()
		},
		// The same limiters fed one aggregated sample per window of
		// requests (feedback.NewWindowed), as on the simulator.
		"aimd-w": func(target time.Duration, workers int) (feedback.Limiter, error) {
			return windowed(feedback.NewAIMD(feedback.WithTimeout(target), feedback.WithInitialLimit(2*workers)))
		},
		"vegas-w": func(time.Duration, int) (feedback.Limiter, error) {
			return windowed(feedback.NewVegas())
		},
		"gradient2-w": func(time.Duration, int) (feedback.Limiter, error) {
			return windowed(feedback.NewGradient2())
		},
	}
}

// windowed wraps a new limiter in feedback.NewWindowed.
func windowed[L feedback.Limiter](l L, err error) (feedback.Limiter, error) {
	if err != nil {
		return nil, err
	}
	return feedback.NewWindowed(l)
}

// limiterNames lists the known limiters, sorted, "none" first.
func limiterNames() []string {
	var names []string
	for n := range limiterFactories() {
		names = append(names, n)
	}
	sort.Strings(names)
	return append([]string{"none"}, names...)
}

// svcArgs is what a service node is made from (core.WithKindArgs).
type svcArgs struct {
	limiter string
	target  time.Duration
	workers int
	work    time.Duration
}

func (a svcArgs) strings() []string {
	return []string{"-limiter", a.limiter, "-target", a.target.String(),
		"-workers", fmt.Sprint(a.workers), "-work", a.work.String()}
}

func parseSvcArgs(args []string) (svcArgs, error) {
	var a svcArgs
	fs := flag.NewFlagSet("svc", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.limiter, "limiter", "none", "")
	fs.DurationVar(&a.target, "target", 100*time.Millisecond, "")
	fs.IntVar(&a.workers, "workers", 4, "")
	fs.DurationVar(&a.work, "work", 10*time.Millisecond, "")
	if err := fs.Parse(args); err != nil {
		return a, err
	}
	if _, ok := limiterFactories()[a.limiter]; !ok && a.limiter != "none" {
		return a, fmt.Errorf("unknown limiter %q (want one of %s)", a.limiter, strings.Join(limiterNames(), ", "))
	}
	if a.workers < 1 || a.work <= 0 || a.target <= 0 {
		return a, fmt.Errorf("want workers ≥ 1, work > 0 and target > 0")
	}
	return a, nil
}

// newService is the node kind of the overloaded service: a handler
// that needs one of a few workers for a fixed time, as a service bound
// by CPUs or a database's connections is, behind the limiter if any.
func newService(args []string) (core.Behavior, error) {
	a, err := parseSvcArgs(args)
	if err != nil {
		return core.Behavior{}, err
	}
	return core.Behavior{Setup: func(ctx context.Context, p *core.Peer) error {
		var h core.Handler = workHandler(a.workers, a.work)
		if a.limiter != "none" {
			lim, err := limiterFactories()[a.limiter](a.target, a.workers)
			if err != nil {
				return err
			}
			sl, err := feedback.NewServerLimiter(lim)
			if err != nil {
				return err
			}
			if _, err := sl.AddStatsTo(p, statsName); err != nil {
				return err
			}
			h = core.Intercept(h, sl.Interceptor())
		}
		return p.Handle(service, h)
	}}, nil
}

// workHandler simulates work: each request holds one of workers for
// work, waiting its turn, so the service completes at most
// workers/work requests a second.
func workHandler(workers int, work time.Duration) core.Handler {
	slots := make(chan struct{}, workers)
	return core.HandlerFunc(func(ctx context.Context, r *core.Request) ([]byte, error) {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		defer func() { <-slots }()
		t := time.NewTimer(work)
		defer t.Stop()
		select {
		case <-t.C:
			return []byte("done"), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
}
