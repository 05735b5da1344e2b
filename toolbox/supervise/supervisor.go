package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gozmp/zmp/core"
)

// Supervisor runs children and restarts them by its strategy, restart
// types, intensity and backoff, as an Erlang/OTP supervisor does. It is
// itself a Child, so supervisors nest into trees.
type Supervisor struct {
	name     string
	strategy Strategy
	specs    []Spec
	cfg      config

	mu       sync.Mutex
	st       core.Status
	cur      *run     // the current or last run; nil before the first Start
	children []*child // start order; changed by the run's goroutine, under mu
	closed   bool
	ring     ring

	counters   counters
	events     chan Event // to the WithEventFunc goroutine; nil without it
	goroutines sync.WaitGroup
	closeOnce  sync.Once
	closeErr   error
}

// counters are the supervisor's statistics.
type counters struct {
	restarts, exits, startFailures, killed, abandoned, intensity, eventsDropped atomic.Int64
}

// New returns a supervisor of specs (children started in this order)
// with strategy. For SimpleOneForOne, specs must be empty and
// WithTemplate is required. The supervisor starts with Start; it owns
// the children of specs (see Close).
func New(name string, strategy Strategy, specs []Spec, opts ...Option) (*Supervisor, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: a supervisor needs a name", ErrBadOption)
	}
	if strategy < OneForOne || strategy > SimpleOneForOne {
		return nil, fmt.Errorf("%w: strategy %d", ErrBadOption, int(strategy))
	}
	cfg, err := buildConfig(strategy, opts)
	if err != nil {
		return nil, err
	}
	if strategy == SimpleOneForOne && len(specs) > 0 {
		return nil, fmt.Errorf("%w: a SimpleOneForOne supervisor has no specs, only its template", ErrBadSpec)
	}
	if err := checkSpecs(specs, cfg); err != nil {
		return nil, err
	}
	s := &Supervisor{
		name: name, strategy: strategy, specs: append([]Spec(nil), specs...), cfg: cfg,
		st: core.Status{Name: name, State: core.StateNew}, ring: ring{max: cfg.eventRing},
	}
	s.children = s.freshChildren()
	if cfg.onEvent != nil {
		s.events = make(chan Event, cfg.eventQueue)
		s.goFunc(func() {
			for ev := range s.events {
				cfg.onEvent(ev)
			}
		})
	}
	return s, nil
}

// goFunc runs f in a goroutine that Close waits for.
func (s *Supervisor) goFunc(f func()) {
	s.goroutines.Add(1)
	go func() {
		defer s.goroutines.Done()
		f()
	}()
}

// checkSpecs validates the template and the specs of New.
func checkSpecs(specs []Spec, cfg config) error {
	if t := cfg.template; t != nil {
		if err := checkPolicy("template", t.Restart, t.Shutdown, t.Significant, cfg.auto); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for _, sp := range specs {
		if err := checkSpec(sp, cfg.auto); err != nil {
			return err
		}
		if seen[sp.Name] {
			return fmt.Errorf("%w: two children named %q", ErrBadSpec, sp.Name)
		}
		seen[sp.Name] = true
	}
	return nil
}

// checkSpec validates one static child spec.
func checkSpec(sp Spec, auto AutoShutdown) error {
	if sp.Name == "" {
		return fmt.Errorf("%w: a child needs a name", ErrBadSpec)
	}
	if sp.Child == nil {
		return fmt.Errorf("%w: child %q has no Child", ErrBadSpec, sp.Name)
	}
	return checkPolicy("child "+sp.Name, sp.Restart, sp.Shutdown, sp.Significant, auto)
}

func checkPolicy(what string, r RestartType, shutdown time.Duration, significant bool, auto AutoShutdown) error {
	switch {
	case r < Permanent || r > Temporary:
		return fmt.Errorf("%w: %s: restart type %d", ErrBadSpec, what, int(r))
	case shutdown < 0 && shutdown != BrutalKill:
		return fmt.Errorf("%w: %s: shutdown %v (use BrutalKill)", ErrBadSpec, what, shutdown)
	case significant && r == Permanent:
		return fmt.Errorf("%w: %s: a permanent child cannot be significant", ErrBadSpec, what)
	case significant && auto == Never:
		return fmt.Errorf("%w: %s: significant, but auto-shutdown is never", ErrBadSpec, what)
	}
	return nil
}

// freshChildren are the children of specs, none running.
func (s *Supervisor) freshChildren() []*child {
	out := make([]*child, len(s.specs))
	for i, sp := range s.specs {
		out[i] = newChild(sp, false)
	}
	return out
}

// Name returns the supervisor's name.
func (s *Supervisor) Name() string { return s.name }

// Start starts the children in order and returns once all run. When one
// fails to start, the ones already started are stopped in reverse order
// and Start returns an error matching ErrStartFailed and the child's
// own error; the run has then failed (Status().State is
// core.StateFailed). When ctx ends first, Start gives up the same way
// and returns an error matching ctx's. Start returns ErrAlreadyStarted
// during a run and ErrClosed after Close. A run that has ended may be
// followed by another Start: children from specs are started again,
// children added at run time are gone. A run whose Stop gave up (its
// context ended) is waited for first, within ctx.
func (s *Supervisor) Start(ctx context.Context) error {
	r, err := s.begin(ctx)
	if err != nil {
		return err
	}
	s.goFunc(func() { newLoop(s, r).main(ctx) })
	select {
	case err = <-r.started:
	case <-r.done:
		err = r.err
	}
	if err != nil {
		<-r.done
	}
	return err
}

// begin makes a new run current, once the last one has ended.
func (s *Supervisor) begin(ctx context.Context) (*run, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		last := s.cur
		if last == nil || closed(last.done) {
			r := newRun()
			s.cur = r
			restarts := s.st.Restarts
			if last != nil {
				restarts++
			}
			s.st = core.Status{Name: s.name, State: core.StateStarting, PID: os.Getpid(), Started: s.cfg.clock.Now(), Restarts: restarts}
			s.children = s.freshChildren()
			s.mu.Unlock()
			return r, nil
		}
		stopping := s.st.State == core.StateStopping
		s.mu.Unlock()
		if !stopping {
			return nil, fmt.Errorf("%w: %s is %s", ErrAlreadyStarted, s.name, s.Status().State)
		}
		select {
		case <-last.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Stop ends the run: it stops the children in reverse start order
// (SimpleOneForOne children all at once), each within its Spec's
// shutdown and within ctx, and returns once all have ended. When ctx
// ends first, the children not yet stopped are killed (or abandoned)
// at once and Stop returns ctx.Err(). The run ends normally: Wait then
// returns nil. Stopping a supervisor that does not run returns nil; a
// Stop that finds another under way waits for it.
func (s *Supervisor) Stop(ctx context.Context) error {
	s.mu.Lock()
	r := s.cur
	if r == nil || closed(r.done) {
		s.mu.Unlock()
		return nil
	}
	if s.st.State != core.StateFailed && s.st.State != core.StateStopped {
		s.st.State = core.StateStopping
	}
	s.mu.Unlock()
	r.requestStop(ctx)
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown stops the run as Stop does, then ends the supervisor for
// good as Close does (closing its children), and returns ctx.Err() when
// ctx ends first (the shutdown then goes on; Close waits for it).
func (s *Supervisor) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.closeWith(ctx)
		close(done)
	}()
	select {
	case <-done:
		return s.closeErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the run (each child within its own shutdown), closes
// every child the supervisor owns that has a Close method, and waits
// for every goroutine it started. It is idempotent; after it every
// call returns ErrClosed.
func (s *Supervisor) Close() error {
	s.closeWith(context.Background())
	return s.closeErr
}

func (s *Supervisor) closeWith(ctx context.Context) {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.Stop(ctx) // its ctx.Err() is Shutdown's to return
		s.mu.Lock()
		r := s.cur
		s.mu.Unlock()
		if r != nil {
			<-r.done
		}
		var errs []error
		for _, sp := range s.specs {
			errs = append(errs, closeChild(sp.Child))
		}
		if s.events != nil {
			close(s.events)
		}
		s.goroutines.Wait()
		s.closeErr = errors.Join(errs...)
	})
}

// closeChild closes c when it has a Close method.
func closeChild(c Child) error {
	if cl, ok := c.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// Wait blocks until the current run has ended, or ctx ends, and returns
// its exit error: nil when Stop or auto-shutdown ended it, an error
// matching ErrIntensity when it failed. Before the first Start it
// returns nil at once.
func (s *Supervisor) Wait(ctx context.Context) error {
	s.mu.Lock()
	r := s.cur
	s.mu.Unlock()
	if r == nil {
		return nil
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Status describes the supervisor as a core.Status, so that it can be a
// child of another supervisor: State, Err (the run's exit error),
// Started, Stopped, Restarts (Starts after the first) and PID (this
// process).
func (s *Supervisor) Status() core.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st
}
