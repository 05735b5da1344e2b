package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	"github.com/gozmp/zmp/bench/spec"
	"github.com/gozmp/zmp/bench/systems"
)

// Roles of the scale workers, also their subcommand names.
const (
	RoleScaleServe = "scale-serve"
	RoleScaleDrive = "scale-drive"
)

// Orders of the scale conversation, besides orderStart.
const (
	// orderSample asks a scale server to sample its live resident set
	// and answer with a ready line.
	orderSample = "sample"
)

// Stats keys of a scale server's resident set samples, KiB.
const (
	rssIdle      = "rss_idle_kib"      // before any client
	rssConnected = "rss_connected_kib" // every client connected
	rssLoaded    = "rss_loaded_kib"    // in the middle of the window
)

// sampleTimeout bounds one fresh caller's or subscriber's first call
// or message.
const sampleTimeout = 30 * time.Second

// ScaleJob is what one scale worker process does.
type ScaleJob struct {
	Point    spec.ScalePoint
	Dir      string        // private directory of the measurement
	Addr     string        // client: what the server said to use
	Duration time.Duration // client: measured window (callers, subscribers)
	Warmup   time.Duration // client: before the window
	Samples  int           // client: fresh callers or subscribers timed
}

// Args returns the command line of a scale worker of role doing j.
func (j ScaleJob) Args(role string) []string {
	args := []string{role, "--case", string(j.Point.Case), "--size", strconv.Itoa(j.Point.Size), "--dir", j.Dir}
	if role == RoleScaleDrive {
		args = append(args, "--addr", j.Addr, "--duration", j.Duration.String(), "--warmup", j.Warmup.String(),
			"--samples", strconv.Itoa(j.Samples))
	}
	return args
}

// newScaleWorker adapts a scale job to the worker machinery: its
// window and counting read the durations and the payload size there.
func newScaleWorker(job ScaleJob, in io.Reader, out io.Writer) *worker {
	v := spec.Variant{Case: spec.Fanout, Transport: spec.TCP, Size: spec.Small, Subs: job.Point.Size}
	return &worker{
		job: Job{System: "zmp", Variant: v, Dir: job.Dir, Addr: job.Addr, Duration: job.Duration, Warmup: job.Warmup},
		ep:  systems.Endpoint{Transport: spec.TCP, Dir: job.Dir}, orders: readOrders(in), out: out,
	}
}

// liveRSSKiB returns this process's resident set after a garbage
// collection that returns free memory to the system: what the live
// objects, stacks and mapped code take, not garbage awaiting the next
// cycle.
func liveRSSKiB() float64 {
	debug.FreeOSMemory()
	n, _ := statusKiB("self", "VmRSS")
	return float64(n)
}

// ScaleServe runs the server side of a scale job until its input ends.
func ScaleServe(ctx context.Context, job ScaleJob, in io.Reader, out io.Writer) error {
	w := newScaleWorker(job, in, out)
	if err := ensureFiles(filesNeeded(job.Point, 1)); err != nil {
		return w.finish(Result{}, err)
	}
	zmp, err := systems.Lookup("zmp")
	if err != nil {
		return err
	}
	switch job.Point.Case {
	case spec.ScaleCallers:
		srv, err := zmp.NewEcho(ctx, w.ep)
		if err != nil {
			return w.finish(Result{}, err)
		}
		return w.serveSampled(ctx, srv, nil)
	case spec.ScaleSubscribers:
		pub, err := zmp.NewPub(ctx, w.ep, systems.PubOptions{Size: spec.Small, Subs: job.Point.Size, Pace: true})
		if err != nil {
			return w.finish(Result{}, err)
		}
		return w.serveSampled(ctx, pub, pub)
	case spec.ScaleRegistryDir, spec.ScaleRegistryNode:
		return w.serveRegistry(ctx, job.Point)
	case spec.ScaleTopics:
		return w.serveTopics(ctx, job.Point.Size)
	}
	return fmt.Errorf("unknown scale case %q", job.Point.Case)
}

// serveSampled serves srv: it samples its resident set before any
// client and on every "sample" order, starts pub (if any) on "start",
// and stops at the end of input.
func (w *worker) serveSampled(ctx context.Context, srv systems.Server, pub systems.Publisher) error {
	stats := map[string]float64{rssIdle: liveRSSKiB()}
	if err := emit(w.out, Line{Ready: true, Addr: srv.Addr()}); err != nil {
		srv.Close()
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	started, samples := false, []string{rssConnected, rssLoaded}
	var err error
	for o := range w.ordersUntil(ctx) {
		switch {
		case o == orderSample && len(samples) > 0:
			stats[samples[0]], samples = liveRSSKiB(), samples[1:]
			err = emit(w.out, Line{Ready: true})
		case o == orderStart && pub != nil && !started:
			started = true
			go func() { errc <- pub.Run(runCtx, make([]byte, spec.Small)) }()
		}
		if err != nil {
			break
		}
	}
	cancel()
	if started {
		err = errors.Join(err, <-errc)
	}
	maps.Copy(stats, srv.Stats())
	return w.finish(Result{Stats: stats}, errors.Join(err, srv.Close()))
}

// ordersUntil yields the orders until the end of input or ctx.
func (w *worker) ordersUntil(ctx context.Context) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for {
			select {
			case o, ok := <-w.orders:
				if !ok || !yield(o) {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}
}

// serveRegistry fills a registry with pt.Size nodes, one of them a
// real echo provider, and keeps it until the end of input.
func (w *worker) serveRegistry(ctx context.Context, pt spec.ScalePoint) error {
	start := time.Now()
	reg, err := systems.NewZmpRegistry(ctx, w.ep, pt.Case == spec.ScaleRegistryNode, pt.Size)
	if err != nil {
		return w.finish(Result{}, err)
	}
	stats := map[string]float64{"fill_ms": ms(time.Since(start))}
	if err := emit(w.out, Line{Ready: true, Addr: reg.Addr()}); err != nil {
		reg.Close()
		return err
	}
	w.waitEnd(ctx)
	return w.finish(Result{Stats: stats}, reg.Close())
}

// advertiseEachMax is the largest N whose topics are also timed with
// one Advertise call each: that cost is quadratic (every call rewrites
// the node's whole registry entry), and 10,000 topics take minutes.
const advertiseEachMax = 3000

// serveTopics advertises n topics by publishing on each, timing it and
// sampling the resident set before and after; times n calls of
// Advertise on a second peer when n is at most advertiseEachMax; then
// publishes on the last topic every millisecond until the end of input.
func (w *worker) serveTopics(ctx context.Context, n int) error {
	node, err := systems.NewZmpTopicNode(ctx, w.ep, n)
	if err != nil {
		return w.finish(Result{}, err)
	}
	idle := liveRSSKiB()
	pctx, cancel := context.WithTimeout(ctx, sampleTimeout)
	took, topic, err := node.PublishAll(pctx, n)
	cancel()
	if err != nil {
		return w.finish(Result{}, errors.Join(err, node.Close()))
	}
	after := liveRSSKiB()
	m := map[string]float64{spec.PublishAdvertiseMs: ms(took), spec.RSSPerTopicKiB: (after - idle) / float64(n)}
	stats := map[string]float64{rssIdle: idle, "rss_topics_kib": after}
	all, err := systems.ZmpAdvertiseAll(ctx, w.ep, n)
	if err != nil {
		return w.finish(Result{}, errors.Join(err, node.Close()))
	}
	m[spec.AdvertiseAllMs] = ms(all)
	if n <= advertiseEachMax {
		d, err := systems.ZmpAdvertiseEach(ctx, w.ep, n)
		if err != nil {
			return w.finish(Result{}, errors.Join(err, node.Close()))
		}
		m[spec.AdvertiseMs] = ms(d)
	}
	runCtx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- node.Run(runCtx) }()
	err = emit(w.out, Line{Ready: true, Addr: topic})
	if err == nil {
		w.waitEnd(ctx)
	}
	cancel()
	err = errors.Join(err, <-errc)
	return w.finish(Result{Metrics: m, Stats: stats}, errors.Join(err, node.Close()))
}

// ScaleDrive runs the client side of a scale job and reports its result.
func ScaleDrive(ctx context.Context, job ScaleJob, in io.Reader, out io.Writer) error {
	w := newScaleWorker(job, in, out)
	if err := ensureFiles(filesNeeded(job.Point, fdsPerPeer)); err != nil {
		return w.finish(Result{}, err)
	}
	switch job.Point.Case {
	case spec.ScaleCallers:
		return w.driveCallers(ctx, job.Point.Size)
	case spec.ScaleSubscribers:
		return w.driveScaleSubs(ctx)
	case spec.ScaleRegistryDir, spec.ScaleRegistryNode:
		return w.driveSamples(ctx, job.Samples, spec.FirstCallMs, func(ctx context.Context, i int) (time.Duration, error) {
			return systems.ZmpFirstCall(ctx, job.Addr, fmt.Sprintf("bench-caller-%d", i))
		})
	case spec.ScaleTopics:
		return w.driveSamples(ctx, job.Samples, spec.FirstMsgMs, func(ctx context.Context, i int) (time.Duration, error) {
			return systems.ZmpFirstMessage(ctx, w.ep, job.Addr, fmt.Sprintf("bench-subscriber-%d", i))
		})
	}
	return fmt.Errorf("unknown scale case %q", job.Point.Case)
}

// driveCallers connects n callers, reports ready, and on "start" has
// every caller keep one call in flight over the window.
func (w *worker) driveCallers(ctx context.Context, n int) error {
	cs, err := systems.DialZmpCallers(ctx, w.ep, n)
	if err != nil {
		return w.finish(Result{}, err)
	}
	if err := emit(w.out, Line{Ready: true}); err != nil {
		cs.Close()
		return err
	}
	if !w.waitOrder(ctx, orderStart) {
		return w.finish(Result{}, errors.Join(errors.New("no start order"), cs.Close()))
	}
	rec := systems.NewRecorder(false)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); cs.Run(runCtx, make([]byte, spec.Small), rec) }()
	elapsed, err := w.window(ctx, nil, rec.SetOn)
	cancel()
	<-done
	m := map[string]float64{spec.CallsPerSec: float64(rec.Calls()) / elapsed.Seconds()}
	if rec.Calls() == 0 {
		err = errors.Join(err, errors.New("no call completed in the window"))
	}
	return w.finish(Result{Metrics: m, Stats: cs.Stats()}, errors.Join(err, cs.Close()))
}

// driveScaleSubs connects the subscribers, reports ready, and counts what
// they receive over the window once the publisher has started.
func (w *worker) driveScaleSubs(ctx context.Context) error {
	subs, err := systems.DialZmpScaleSubs(ctx, w.ep, w.job.Variant.Subs)
	return w.runSubs(ctx, subs, err)
}

// driveSamples times n fresh clients one after the other and reports
// the median as metric, with the minimum and maximum as stats.
func (w *worker) driveSamples(ctx context.Context, n int, metric string, one func(context.Context, int) (time.Duration, error)) error {
	var took []float64
	for i := range max(n, 1) {
		sctx, cancel := context.WithTimeout(ctx, sampleTimeout)
		d, err := one(sctx, i)
		cancel()
		if err != nil {
			return w.finish(Result{}, fmt.Errorf("sample %d: %w", i, err))
		}
		took = append(took, ms(d))
	}
	return w.finish(Result{
		Metrics: map[string]float64{metric: median(took)},
		Stats:   map[string]float64{metric + "_min": slices.Min(took), metric + "_max": slices.Max(took)},
	}, nil)
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
