package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gozmp/zmp/bench/spec"
	"github.com/gozmp/zmp/bench/systems"
)

// Drive runs the client side of job: calls, or subscribers that
// report ready and then count what they receive in the window (or, in
// the stalled case, wait for the end of input while the driver keeps
// the process stopped). It reports its result and returns.
func Drive(ctx context.Context, job Job, in io.Reader, out io.Writer) error {
	w, err := newWorker(job, in, out)
	if err != nil {
		return err
	}
	if job.Variant.IsRPC() {
		return w.driveCalls(ctx)
	}
	return w.driveSubs(ctx)
}

func (w *worker) driveCalls(ctx context.Context) error {
	v := w.job.Variant
	c, err := w.sys.DialEcho(ctx, w.ep, w.job.Addr)
	if err != nil {
		return w.finish(Result{}, err)
	}
	rec := systems.NewRecorder(v.Case == spec.RTT)
	runCtx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- c.Run(runCtx, max(v.Inflight, 1), make([]byte, v.Size), rec) }()
	elapsed, err := w.window(ctx, errc, rec.SetOn)
	cancel()
	err = errors.Join(err, <-errc)
	m := map[string]float64{spec.CallsPerSec: float64(rec.Calls()) / elapsed.Seconds()}
	if p := rec.Percentiles(0.50, 0.99, 0.999); p != nil {
		m[spec.P50], m[spec.P99], m[spec.P999] = p[0], p[1], p[2]
	}
	if rec.Calls() == 0 {
		err = errors.Join(err, errors.New("no call completed in the window"))
	}
	return w.finish(Result{Metrics: m}, errors.Join(err, c.Close()))
}

// window waits the warm-up, then calls mark(true), waits the measured
// window and calls mark(false); it returns the window's real length, or
// early with the error of a run that ended.
func (w *worker) window(ctx context.Context, errc <-chan error, mark func(bool)) (time.Duration, error) {
	if err := sleep(ctx, errc, w.job.Warmup); err != nil {
		return time.Nanosecond, err
	}
	mark(true)
	start := time.Now()
	err := sleep(ctx, errc, w.job.Duration)
	mark(false)
	return time.Since(start), err
}

// sleep waits d unless ctx ends or errc reports first.
func sleep(ctx context.Context, errc <-chan error, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case err := <-errc:
		return fmt.Errorf("ended early: %v", err)
	}
}

func (w *worker) driveSubs(ctx context.Context) error {
	v := w.job.Variant
	subs, err := w.sys.DialSubs(ctx, w.ep, w.job.Addr, max(v.Subs, 1))
	return w.runSubs(ctx, subs, err)
}

// runSubs waits for subs (made with err) to be ready, reports ready,
// and counts what they receive over the window.
func (w *worker) runSubs(ctx context.Context, subs systems.Subscribers, err error) error {
	if err != nil {
		return w.finish(Result{}, err)
	}
	readyCtx, cancel := context.WithTimeout(ctx, readyWait)
	err = subs.Ready(readyCtx)
	cancel()
	if err == nil {
		err = emit(w.out, Line{Ready: true})
	}
	var m map[string]float64
	if err == nil {
		m, err = w.count(ctx, subs)
	}
	stats := subs.Stats()
	return w.finish(Result{Metrics: m, Stats: stats}, errors.Join(err, subs.Close()))
}

// count measures delivered messages: in the stalled case it only waits
// for the end of input; otherwise it waits for every subscriber's first
// message, the warm-up, and counts over the window.
func (w *worker) count(ctx context.Context, subs systems.Subscribers) (map[string]float64, error) {
	counts := subs.Counts()
	if w.job.Variant.Case == spec.Stalled {
		w.waitEnd(ctx)
		return map[string]float64{"received": float64(counts.Sum())}, nil
	}
	if err := waitFirst(ctx, counts); err != nil {
		return nil, err
	}
	var before, after uint64
	elapsed, err := w.window(ctx, nil, func(on bool) {
		if on {
			before = counts.Sum()
		} else {
			after = counts.Sum()
		}
	})
	n := float64(after - before)
	rate := n / elapsed.Seconds()
	return map[string]float64{spec.MsgsPerSec: rate, spec.MBPerSec: rate * float64(w.job.Variant.Size) / 1e6}, err
}

// waitFirst waits until every subscriber has received a message.
func waitFirst(ctx context.Context, counts *systems.Counters) error {
	deadline := time.Now().Add(firstMessageWait)
	for counts.Min() == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("a subscriber received nothing in %v", firstMessageWait)
		}
		if err := sleep(ctx, nil, time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}
