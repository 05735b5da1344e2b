// Command feedback-overload measures toolbox/feedback's server limiter
// on real processes: it starts an overloaded service in a child
// process, drives it from this one at a multiple of its capacity, and
// reports latency, goodput and shedding without a limiter and with
// each limiter named.
//
//	go run ./examples/feedback-overload                       # none, then aimd, gradient2, vegas
//	go run ./examples/feedback-overload -limiter vegas -load 3 -duration 10s
//
// The service's handler needs one of -workers workers for -work each
// (default 4 × 10 ms: 400 req/s); the load is -load times that, sent
// open-loop (each call whatever happens to the others), each call with
// a -deadline. A run measures the calls sent during -duration after
// -warmup; p50 and p99 are of the calls served. Processes meet through
// the default registry directory (ZMP_REGISTRY, ZMP_RUNTIME_DIR).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/feedback"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command's flags.
type options struct {
	svc      svcArgs
	limiters []string
	load     float64
	plan     loadPlan
	handlers int // the service's handler pool (core.WithConcurrency)
	queue    int
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var limiters string
	fs := flag.NewFlagSet("feedback-overload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&limiters, "limiter", "target,envoy,aimd-w,vegas-w,gradient2-w",
		"limiters to measure after the run without one, comma-separated: "+strings.Join(limiterNames(), ", "))
	fs.DurationVar(&o.svc.target, "target", 100*time.Millisecond, "p99 latency target (AIMD's timeout)")
	fs.IntVar(&o.svc.workers, "workers", 4, "requests the service works on at once")
	fs.DurationVar(&o.svc.work, "work", 10*time.Millisecond, "time one request takes a worker")
	fs.Float64Var(&o.load, "load", 2.5, "offered load as a multiple of capacity")
	fs.DurationVar(&o.plan.measure, "duration", 5*time.Second, "how long each run is measured")
	fs.DurationVar(&o.plan.warmup, "warmup", time.Second, "load before measuring, for the limiter to settle")
	fs.DurationVar(&o.plan.deadline, "deadline", time.Second, "each call's deadline")
	fs.IntVar(&o.handlers, "handlers", 256, "the service's handler pool (core.WithConcurrency)")
	fs.IntVar(&o.queue, "queue", 1024, "requests waiting for a handler (core.WithConcurrency)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.limiters = []string{"none"}
	for _, l := range strings.Split(limiters, ",") {
		if l = strings.TrimSpace(l); l != "" && l != "none" {
			o.limiters = append(o.limiters, l)
		}
	}
	for _, l := range o.limiters {
		a := o.svc
		a.limiter = l
		if _, err := parseSvcArgs(a.strings()); err != nil {
			return o, err
		}
	}
	if !(o.load > 0) || o.plan.measure <= 0 || o.plan.warmup < 0 || o.plan.deadline <= 0 || o.handlers < 1 || o.queue < 0 {
		return o, fmt.Errorf("want -load > 0, -duration > 0, -warmup ≥ 0, -deadline > 0, -handlers ≥ 1 and -queue ≥ 0")
	}
	o.plan.rate = o.load * capacity(o.svc)
	return o, nil
}

// capacity is the service's throughput in requests a second.
func capacity(a svcArgs) float64 { return float64(a.workers) / a.work.Seconds() }

func run(args []string, stdout, stderr io.Writer) int {
	l, err := core.NewLauncher()
	if err == nil {
		err = l.RegisterArgs("svc", newService)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if code, isChild := l.RunChild(); isChild {
		return code
	}
	o, err := parseFlags(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "feedback-overload:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := measureAll(ctx, l, o, stdout); err != nil {
		fmt.Fprintln(stderr, "feedback-overload:", err)
		return 1
	}
	return 0
}

// measureAll runs the service once per limiter and prints a table.
func measureAll(ctx context.Context, l *core.Launcher, o options, w io.Writer) error {
	client, err := core.NewPeer(ctx, "")
	if err != nil {
		return err
	}
	defer client.Close()
	fmt.Fprintf(w, "capacity %.0f req/s (%d workers × %v; pool %d handlers, queue %d); offered %.0f req/s (%.1f×) for %v after %v warm-up; deadline %v; p99 target %v\n",
		capacity(o.svc), o.svc.workers, o.svc.work, o.handlers, o.queue, o.plan.rate, o.load, o.plan.measure, o.plan.warmup, o.plan.deadline, o.svc.target)
	fmt.Fprintf(w, "%-12s %7s %9s %9s %9s %6s %7s %6s %7s %11s %s\n",
		"limiter", "sent", "goodput/s", "p50", "p99", "shed", "timeout", "other", "skipped", "limit", "p99≤target")
	for _, name := range o.limiters {
		a := o.svc
		a.limiter = name
		res, err := measureOne(ctx, l, client, a, o)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(w, "%-12s %7d %9.0f %9v %9v %6d %7d %6d %7d %11s %v\n",
			name, res.sent, res.goodput(), res.quantile(0.5).Round(100*time.Microsecond),
			res.quantile(0.99).Round(100*time.Microsecond), res.shed, res.timedOut, res.other,
			res.skipped, res.limits.String(), res.ok > 0 && res.quantile(0.99) <= a.target)
	}
	return nil
}

// measureOne starts the service with a's limiter in a child process,
// drives it, and returns what it measured, with the limits the
// service's limiter had during the measuring window.
func measureOne(ctx context.Context, l *core.Launcher, client *core.Peer, a svcArgs, o options) (*result, error) {
	name := fmt.Sprintf("overload-%d-%s", os.Getpid(), a.limiter)
	n, err := l.NewNode("svc", name, core.WithKindArgs(a.strings()...),
		core.WithConcurrency(o.handlers, o.queue), core.WithConnectionShare(o.handlers, o.queue))
	if err != nil {
		return nil, err
	}
	defer n.Close()
	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := n.Start(startCtx); err != nil {
		return nil, err
	}
	if err := waitServing(startCtx, client, name); err != nil {
		return nil, err
	}
	var limits limitSeries
	pollCtx, stopPoll := context.WithCancel(ctx)
	polled := make(chan error, 1)
	go func() {
		if a.limiter == "none" {
			polled <- nil
			return
		}
		time.Sleep(o.plan.warmup)
		polled <- limits.poll(pollCtx, client, name)
	}()
	res := drive(ctx, client, name, o.plan)
	stopPoll()
	if err := <-polled; err != nil {
		return nil, err
	}
	res.limits = limits
	return res, ctx.Err()
}

// limitSeries is the limits a service's limiter had, read every
// 100 ms from its zmp.stats.
type limitSeries []int

// poll reads the limit until ctx ends.
func (s *limitSeries) poll(ctx context.Context, client *core.Peer, node string) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		st, err := limiterStats(ctx, client, node)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		*s = append(*s, st.Limit)
	}
}

// String gives the mean and the range of the limits, "-" for none.
func (s limitSeries) String() string {
	if len(s) == 0 {
		return "-"
	}
	sum := 0
	for _, v := range s {
		sum += v
	}
	return fmt.Sprintf("%d[%d-%d]", (sum+len(s)/2)/len(s), slices.Min(s), slices.Max(s))
}

// waitServing calls the service until it answers: the client has
// found the node.
func waitServing(ctx context.Context, client *core.Peer, node string) error {
	for {
		callCtx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := client.Call(callCtx, service, nil, core.OnNode(node))
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("service never answered: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// limiterStats reads the service's limiter stats from its zmp.stats.
func limiterStats(ctx context.Context, client *core.Peer, node string) (*feedback.ServerLimiterStats, error) {
	body, err := client.Call(ctx, core.IntrospectStats, nil, core.OnNode(node))
	if err != nil {
		return nil, err
	}
	var st core.Stats
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, err
	}
	var ls feedback.ServerLimiterStats
	if err := json.Unmarshal(st.Extra[statsName], &ls); err != nil {
		return nil, fmt.Errorf("limiter stats: %w", err)
	}
	return &ls, nil
}
