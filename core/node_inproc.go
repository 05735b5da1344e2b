package core

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// inProc runs a Behavior as goroutines of this process.
type inProc struct {
	name   string
	b      Behavior
	cfg    config
	ctx    context.Context // the node's run context, cancelled by stop
	cancel context.CancelFunc
	ready  chan error
	fin    chan struct{}
	peer   atomic.Pointer[Peer]
	info   NodeInfo
	err    error
}

func newInProc(name string, b Behavior, cfg config) *inProc {
	ctx, cancel := context.WithCancel(context.Background())
	return &inProc{name: name, b: b, cfg: cfg, ctx: ctx, cancel: cancel, ready: make(chan error, 1), fin: make(chan struct{})}
}

func (r *inProc) pid() int              { return os.Getpid() }
func (r *inProc) done() <-chan struct{} { return r.fin }
func (r *inProc) result() (int, error) {
	select {
	case <-r.fin:
		if r.err != nil {
			return 1, r.err
		}
		return 0, nil
	default:
		return 0, nil
	}
}

func (r *inProc) start(ctx context.Context) (NodeInfo, error) {
	go r.main(ctx)
	select {
	case err := <-r.ready:
		if err != nil {
			<-r.fin
			return NodeInfo{}, err
		}
		return r.info, nil
	case <-ctx.Done():
		r.cancel()
		return NodeInfo{}, fmt.Errorf("core: starting %s: %w", r.name, ctx.Err())
	}
}

// main is the node's life: peer, Setup, the update loop or a wait,
// Teardown, peer closed.
func (r *inProc) main(startCtx context.Context) {
	defer close(r.fin)
	p, err := newPeer(startCtx, r.name, r.cfg)
	if err != nil {
		r.err = err
		r.ready <- err
		return
	}
	r.peer.Store(p)
	if r.b.Setup != nil {
		if err := protect(func() error { return r.b.Setup(r.ctx, p) }); err != nil {
			r.err = errors.Join(fmt.Errorf("core: setup of %s: %w", r.name, err), p.Close())
			r.ready <- r.err
			return
		}
	}
	r.info = p.Info()
	cancelled := r.ctx.Err() != nil // Start gave up or Stop came during Setup
	r.ready <- nil
	var runErr error
	if !cancelled {
		runErr = r.loop(p)
	}
	teardownErr := r.teardown(p)
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.stopTimeout)
	defer cancel()
	r.err = errors.Join(runErr, teardownErr, p.Shutdown(ctx))
}

func (r *inProc) loop(p *Peer) error {
	if r.b.Update == nil {
		<-r.ctx.Done()
		return nil
	}
	last := time.Now()
	for {
		now := time.Now()
		err := protect(func() error { return r.b.Update(r.ctx, p, now.Sub(last)) })
		last = now
		if errors.Is(err, ErrStop) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("core: update of %s: %w", r.name, err)
		}
		if !r.waitNext(last) {
			return nil
		}
	}
}

// waitNext sleeps until the next update is due; false when stopping.
func (r *inProc) waitNext(last time.Time) bool {
	if r.ctx.Err() != nil {
		return false
	}
	if r.cfg.updateInterval <= 0 {
		return true
	}
	return sleepCtx(r.ctx, time.Until(last.Add(r.cfg.updateInterval)))
}

func (r *inProc) teardown(p *Peer) error {
	if r.b.Teardown == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.stopTimeout)
	defer cancel()
	if err := protect(func() error { return r.b.Teardown(ctx, p) }); err != nil {
		return fmt.Errorf("core: teardown of %s: %w", r.name, err)
	}
	return nil
}

// protect calls f and turns a panic in it into an error that holds the
// panic value and the stack of the goroutine that panicked.
func protect(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v\n%s", v, debug.Stack())
		}
	}()
	return f()
}

func (r *inProc) stop(ctx context.Context) error {
	r.cancel()
	select {
	case <-r.fin:
		return nil
	case <-ctx.Done():
		// The behaviour ignores its context: cut it off the network so
		// it stops serving, and leave its goroutine to return when it may.
		if p := r.peer.Load(); p != nil {
			p.Close()
		}
		return fmt.Errorf("%w: %s (in-process, abandoned)", ErrStopTimeout, r.name)
	}
}
