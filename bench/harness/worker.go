package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gozmp/zmp/bench/spec"
	"github.com/gozmp/zmp/bench/systems"
)

// firstMessageWait bounds how long subscribers wait for their first
// message, and readyWait how long a side takes to connect.
const (
	firstMessageWait = 10 * time.Second
	readyWait        = 20 * time.Second
)

// worker is one side of a measurement, in its own process.
type worker struct {
	job    Job
	sys    *systems.System
	ep     systems.Endpoint
	orders <-chan string // lines of stdin; closed at end of input
	out    io.Writer
}

func newWorker(job Job, in io.Reader, out io.Writer) (*worker, error) {
	if job.CPUs != "" {
		if err := pinSelf(job.CPUs); err != nil {
			return nil, err
		}
	}
	sys, err := systems.Lookup(job.System)
	if err != nil {
		return nil, err
	}
	if why := sys.Unsupported(job.Variant); why != "" {
		return nil, fmt.Errorf("%s does not run %s: %s", job.System, job.Variant.ID(), why)
	}
	return &worker{job: job, sys: sys, ep: systems.Endpoint{Transport: job.Variant.Transport, Dir: job.Dir, Security: job.Variant.Security}, orders: readOrders(in), out: out}, nil
}

// readOrders delivers the lines of in until its end. The goroutine ends
// with the input, which the driver closes.
func readOrders(in io.Reader) <-chan string {
	ch := make(chan string, 4)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

// waitOrder waits for the order want, or for the end of input (false).
func (w *worker) waitOrder(ctx context.Context, want string) bool {
	for {
		select {
		case o, ok := <-w.orders:
			if !ok {
				return false
			}
			if o == want {
				return true
			}
		case <-ctx.Done():
			return false
		}
	}
}

// waitEnd waits for the end of input.
func (w *worker) waitEnd(ctx context.Context) {
	for {
		select {
		case _, ok := <-w.orders:
			if !ok {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// finish reports r (and err) with this process's peak RSS.
func (w *worker) finish(r Result, err error) error {
	if err != nil {
		r.Error = err.Error()
	}
	r.HWMKiB = peakRSSKiB()
	return errors.Join(err, emit(w.out, Line{Result: &r}))
}

// Serve runs the server side of job: it reports ready with the address
// to dial, serves (publishing from the "start" order on) until its
// input ends, then reports its result.
func Serve(ctx context.Context, job Job, in io.Reader, out io.Writer) error {
	w, err := newWorker(job, in, out)
	if err != nil {
		return err
	}
	if job.Variant.IsRPC() {
		return w.serveEcho(ctx)
	}
	return w.servePub(ctx)
}

func (w *worker) serveEcho(ctx context.Context) error {
	srv, err := w.sys.NewEcho(ctx, w.ep)
	if err != nil {
		return w.finish(Result{}, err)
	}
	if err := emit(w.out, Line{Ready: true, Addr: srv.Addr()}); err != nil {
		srv.Close()
		return err
	}
	w.waitEnd(ctx)
	stats := srv.Stats()
	return w.finish(Result{Stats: stats}, srv.Close())
}

func (w *worker) servePub(ctx context.Context) error {
	v := w.job.Variant
	pub, err := w.sys.NewPub(ctx, w.ep, systems.PubOptions{Size: v.Size, Subs: v.Subs, Pace: v.Case != spec.Stalled})
	if err != nil {
		return w.finish(Result{}, err)
	}
	if err := emit(w.out, Line{Ready: true, Addr: pub.Addr()}); err != nil {
		pub.Close()
		return err
	}
	var runErr error
	if w.waitOrder(ctx, orderStart) {
		runCtx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() { errc <- pub.Run(runCtx, make([]byte, v.Size)) }()
		w.waitEnd(ctx)
		cancel()
		runErr = <-errc
	}
	stats := pub.Stats()
	return w.finish(Result{Stats: stats}, errors.Join(runErr, pub.Close()))
}
