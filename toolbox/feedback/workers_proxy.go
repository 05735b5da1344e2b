package feedback

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gozmp/zmp/toolbox/proxy"
)

// QueueWaitReader is what a QueueWaitSource reads: a *proxy.Queue.
type QueueWaitReader interface {
	WaitStats() proxy.WaitStats
}

// QueueWaitSource is the WaitSource of a real proxy.Queue: each
// MeasureWait reads the queue's cumulative WaitStats and returns the
// difference from the previous read (the first from the read made by
// NewQueueWaitSource). It is not safe for concurrent use; a WorkerLoop
// calls it from Step only.
type QueueWaitSource struct {
	q    QueueWaitReader
	prev proxy.WaitStats
}

// NewQueueWaitSource returns a source reading q, starting now.
func NewQueueWaitSource(q QueueWaitReader) (*QueueWaitSource, error) {
	if q == nil {
		return nil, fmt.Errorf("%w: nil queue", ErrInvalidWorkerLoop)
	}
	return &QueueWaitSource{q: q, prev: q.WaitStats()}, nil
}

// MeasureWait returns the queue's waits since the previous call, dt
// ago: the p99 from the queue's histogram (within its 9 % buckets), the
// mean service time from dispatch to reply.
func (s *QueueWaitSource) MeasureWait(dt, late time.Duration) (WaitWindow, error) {
	cur := s.q.WaitStats()
	d := cur.Since(s.prev)
	s.prev = cur
	return WaitWindow{
		Window: dt, Arrivals: int(d.Arrived), Dispatched: int(d.Dispatched),
		WaitP99: d.Quantile(waitQuantile), Late: d.Over(late), Queued: d.Queued, OldestWait: d.OldestWait,
		MeanService: d.MeanService(),
	}, nil
}

// ErrWorkerSetClosed is returned by WorkerSet.SetWorkers after Close.
var ErrWorkerSetClosed = errors.New("feedback: worker set closed")

// WorkerSetOption configures a WorkerSet.
type WorkerSetOption func(*workerSetConfig) error

type workerSetConfig struct {
	proxyOpts   []proxy.Option
	stopTimeout time.Duration
}

// WithWorkerOptions passes opts to proxy.NewWorker for every worker the
// set starts (WithHeartbeat, WithReconnect, WithSecurity, …). Default
// none; repeating adds.
func WithWorkerOptions(opts ...proxy.Option) WorkerSetOption {
	return func(c *workerSetConfig) error {
		c.proxyOpts = append(c.proxyOpts, opts...)
		return nil
	}
}

// WithStopTimeout bounds how long stopping a worker waits for its
// request in progress to be answered before it closes the worker
// anyway, which makes the queue send the request to another worker
// (> 0). Default 5 s; repeating replaces.
func WithStopTimeout(d time.Duration) WorkerSetOption {
	return func(c *workerSetConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: stop timeout %v: want > 0", ErrInvalidWorkerLoop, d)
		}
		c.stopTimeout = d
		return nil
	}
}

// WorkerSet is a Scaler of in-process worker nodes: each worker is a
// proxy.Worker (its own connection to the Queue's backend, its own
// goroutines) serving requests with the same Handler. SetWorkers starts
// workers at once (they register with the queue as they connect) and
// stops the most recently started first, each once its request in
// progress has been answered; a request the queue hands a worker in
// the moment it closes is sent to another worker (the queue retries
// it, up to proxy.WithMaxRetries). Its methods are safe for concurrent
// use.
type WorkerSet struct {
	endpoint string
	h        proxy.Handler
	cfg      workerSetConfig

	op      sync.Mutex // serialises SetWorkers and Close
	mu      sync.Mutex // guards workers and closed
	workers []*setWorker
	closed  bool
}

// setWorker is one worker of a set and the count of requests its
// handler has taken.
type setWorker struct {
	w       *proxy.Worker
	started atomic.Uint64
}

// idle reports whether every request the worker's handler took has
// been answered (or given back): none is in progress.
func (sw *setWorker) idle() bool {
	st := sw.w.Stats()
	return sw.started.Load() == st.Served+st.Failed
}

// NewWorkerSet returns an empty set of workers for the Queue whose
// backend is endpoint, serving with h. Options: WithWorkerOptions,
// WithStopTimeout. Start workers with SetWorkers.
func NewWorkerSet(endpoint string, h proxy.Handler, opts ...WorkerSetOption) (*WorkerSet, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: nil handler", ErrInvalidWorkerLoop)
	}
	cfg := workerSetConfig{stopTimeout: 5 * time.Second}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidWorkerLoop)
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	return &WorkerSet{endpoint: endpoint, h: h, cfg: cfg}, nil
}

// Workers returns the number of workers running (stopping ones not
// counted).
func (s *WorkerSet) Workers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.workers)
}

// SetWorkers starts or stops workers until n (≥ 0) run. Stopping waits
// for each stopped worker's request in progress, at most the stop
// timeout or until ctx ends; then the worker is closed anyway (its
// request goes to another worker). It returns ctx's error when ctx cut
// a stop short, a proxy.NewWorker error when a worker could not start,
// or ErrWorkerSetClosed.
func (s *WorkerSet) SetWorkers(ctx context.Context, n int) error {
	s.op.Lock()
	defer s.op.Unlock()
	return s.setWorkers(ctx, max(n, 0))
}

func (s *WorkerSet) setWorkers(ctx context.Context, n int) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrWorkerSetClosed
	}
	cur := len(s.workers)
	var stopping []*setWorker
	if n < cur {
		stopping = append(stopping, s.workers[n:]...)
		s.workers = s.workers[:n]
	}
	s.mu.Unlock()
	for i := cur; i < n; i++ {
		sw, err := s.start()
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.workers = append(s.workers, sw)
		s.mu.Unlock()
	}
	return s.stop(ctx, stopping)
}

// start starts one worker of the set.
func (s *WorkerSet) start() (*setWorker, error) {
	return startSetWorker(s.endpoint, s.h, s.cfg.proxyOpts)
}

// startSetWorker starts a proxy worker whose handler counts the
// requests it takes.
func startSetWorker(endpoint string, h proxy.Handler, opts []proxy.Option) (*setWorker, error) {
	sw := &setWorker{}
	counted := proxy.HandlerFunc(func(ctx context.Context, body [][]byte) ([][]byte, error) {
		sw.started.Add(1)
		return h.Serve(ctx, body)
	})
	w, err := proxy.NewWorker(endpoint, counted, opts...)
	if err != nil {
		return nil, err
	}
	sw.w = w
	return sw, nil
}

// stop closes the workers, in parallel, each once it is idle or the
// stop timeout or ctx ends.
func (s *WorkerSet) stop(parent context.Context, ws []*setWorker) error {
	if len(ws) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(parent, s.cfg.stopTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, sw := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			waitIdle(ctx, sw)
			sw.w.Close()
		}()
	}
	wg.Wait()
	return parent.Err()
}

// waitIdle polls until sw has no request in progress or ctx ends.
func waitIdle(ctx context.Context, sw *setWorker) {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for !sw.idle() {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close stops every worker, waiting for their requests in progress at
// most the stop timeout, and returns after their goroutines have
// exited. It is idempotent.
func (s *WorkerSet) Close() error {
	s.op.Lock()
	defer s.op.Unlock()
	s.setWorkers(context.Background(), 0)
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}
