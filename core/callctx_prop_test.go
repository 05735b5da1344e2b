package core

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// callCtx replaces context.WithDeadline for speed, so it is checked
// against it: every scenario below runs one callCtx and one standard
// context side by side, ends them by the same events at the same
// moments (deadline, cancel by the caller, parent cancelled), while
// goroutines call Done and Err in random order. Run with -race.

// ctxScenario is one random interleaving. Times are offsets from the
// start; negative means never.
type ctxScenario struct {
	timeout  time.Duration // 0: no deadline
	cancelAt time.Duration
	parentAt time.Duration
	doneAt   time.Duration // when a goroutine first asks for Done
	readers  int
	seed     uint64
}

func randomScenario(r *rand.Rand) ctxScenario {
	at := func() time.Duration {
		if r.IntN(3) == 0 {
			return -1
		}
		return time.Duration(r.IntN(60)) * time.Millisecond
	}
	s := ctxScenario{cancelAt: at(), parentAt: at(), doneAt: at(), readers: r.IntN(4), seed: r.Uint64()}
	if r.IntN(4) != 0 {
		s.timeout = time.Duration(1+r.IntN(60)) * time.Millisecond
	}
	return s
}

// ctxPair is the callCtx under test and its standard counterpart.
type ctxPair struct {
	ours         *callCtx
	ref          context.Context
	refCancel    context.CancelFunc
	parentCancel context.CancelFunc // cancels both parents
	deadline     time.Time

	mu       sync.Mutex
	cancelAt time.Time // when the cancel event really ran
	parentAt time.Time
}

func newCtxPair(s ctxScenario) *ctxPair {
	ourParent := newScope(context.Background())
	refParent, refParentCancel := context.WithCancel(context.Background())
	p := &ctxPair{parentCancel: func() { ourParent.end(); refParentCancel() }}
	p.ours = newCallCtx(ourParent, uint32(s.timeout/time.Millisecond))
	if d, ok := p.ours.Deadline(); ok {
		p.deadline = d
		p.ref, p.refCancel = context.WithDeadline(refParent, d)
	} else {
		p.ref, p.refCancel = context.WithCancel(refParent)
	}
	return p
}

func (p *ctxPair) cancel() {
	p.mu.Lock()
	p.cancelAt = time.Now()
	p.mu.Unlock()
	p.ours.cancel(context.Canceled)
	p.refCancel()
}

func (p *ctxPair) cancelParent() {
	p.mu.Lock()
	p.parentAt = time.Now()
	p.mu.Unlock()
	p.parentCancel()
}

// expected is the error both contexts must end with, when the first
// event came clearly (margin) before the others; ok is false when
// events were too close to tell which came first, or none happened.
func (p *ctxPair) expected(margin time.Duration) (want error, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	type event struct {
		at  time.Time
		err error
	}
	var evs []event
	for _, e := range []event{{p.deadline, context.DeadlineExceeded}, {p.cancelAt, context.Canceled}, {p.parentAt, context.Canceled}} {
		if !e.at.IsZero() {
			evs = append(evs, e)
		}
	}
	if len(evs) == 0 {
		return nil, true
	}
	first := evs[0]
	for _, e := range evs[1:] {
		if e.at.Before(first.at) {
			first = e
		}
	}
	for _, e := range evs {
		if e != first && e.at.Sub(first.at) < margin && e.err != first.err {
			return nil, false
		}
	}
	return first.err, true
}

// checkConsistent is what a reader may observe of one context at any
// moment: Err is nil, Canceled or DeadlineExceeded; once non-nil it
// never changes; Done is closed exactly when Err is non-nil; the
// deadline is never reported exceeded early.
func checkConsistent(ctx context.Context, deadline time.Time, last *error) error {
	select {
	case <-ctx.Done():
		if ctx.Err() == nil {
			return errors.New("Done closed but Err is nil")
		}
	default:
	}
	err := ctx.Err()
	now := time.Now()
	switch {
	case err == nil:
	case errors.Is(err, context.Canceled):
	case errors.Is(err, context.DeadlineExceeded):
		if deadline.IsZero() || now.Before(deadline) {
			return fmt.Errorf("DeadlineExceeded before the deadline (%v early)", deadline.Sub(now))
		}
	default:
		return fmt.Errorf("Err = %v", err)
	}
	if *last != nil && err != *last {
		return fmt.Errorf("Err changed from %v to %v", *last, err)
	}
	if err != nil {
		select {
		case <-ctx.Done():
		default:
			return fmt.Errorf("Err = %v but Done is open", err)
		}
	}
	*last = err
	return nil
}

func runCtxScenario(s ctxScenario) error {
	p := newCtxPair(s)
	defer p.refCancel()
	var timers []*time.Timer
	if s.cancelAt >= 0 {
		timers = append(timers, time.AfterFunc(s.cancelAt, p.cancel))
	}
	if s.parentAt >= 0 {
		timers = append(timers, time.AfterFunc(s.parentAt, p.cancelParent))
	}
	if s.doneAt >= 0 {
		timers = append(timers, time.AfterFunc(s.doneAt, func() { p.ours.Done() }))
	}
	defer func() {
		for _, t := range timers {
			t.Stop()
		}
	}()

	// Readers poke both contexts in random order until the scenario is
	// over, checking what each may observe.
	stop := make(chan struct{})
	errs := make(chan error, 2*s.readers+1)
	var wg sync.WaitGroup
	for i := range s.readers {
		wg.Add(1)
		go func(r *rand.Rand) {
			defer wg.Done()
			var lastOurs, lastRef error
			for {
				select {
				case <-stop:
					return
				default:
				}
				if r.IntN(2) == 0 {
					p.ours.Done()
				}
				if err := checkConsistent(p.ours, p.deadline, &lastOurs); err != nil {
					errs <- fmt.Errorf("callCtx: %w", err)
					return
				}
				if err := checkConsistent(p.ref, p.deadline, &lastRef); err != nil {
					errs <- fmt.Errorf("reference: %w", err)
					return
				}
				time.Sleep(time.Duration(r.IntN(3000)) * time.Microsecond)
			}
		}(rand.New(rand.NewPCG(s.seed, uint64(i))))
	}

	// Wait past every scheduled event, then compare the outcomes.
	time.Sleep(80 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return compareOutcome(p)
}

// Margins within which two events count as simultaneous: callCtx reads
// the clock, the standard context waits for its timer, which a loaded
// machine runs late.
const (
	oursMargin = 15 * time.Millisecond
	refMargin  = 60 * time.Millisecond
)

// compareOutcome checks the two contexts after every event has passed:
// each must end with the error of the event that came first, when the
// first came clearly first.
func compareOutcome(p *ctxPair) error {
	if err := checkOutcome("callCtx", p.ours, p, oursMargin, false); err != nil {
		return err
	}
	return checkOutcome("reference", p.ref, p, refMargin, true)
}

// lateTimer, for the standard context, accepts Canceled where the
// deadline came first: its deadline is a timer, which a loaded machine
// may run after a later cancel (seen at load average 8 on 2 cores).
// callCtx reads the clock, so it gets no such leeway.
func checkOutcome(name string, ctx context.Context, p *ctxPair, margin time.Duration, lateTimer bool) error {
	want, known := p.expected(margin)
	if known && want == nil { // no event: it must not have ended
		if ctx.Err() != nil {
			return fmt.Errorf("%s ended (%v) with no event", name, ctx.Err())
		}
		return nil
	}
	derived, cancel := context.WithCancel(ctx)
	defer cancel()
	for what, ch := range map[string]<-chan struct{}{"Done": ctx.Done(), "a derived context's Done": derived.Done()} {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			return fmt.Errorf("%s: %s still open after its end", name, what)
		}
	}
	if known && ctx.Err() != want && !(lateTimer && want == context.DeadlineExceeded && ctx.Err() == context.Canceled) {
		return fmt.Errorf("%s: Err = %v, want %v", name, ctx.Err(), want)
	}
	if derived.Err() != ctx.Err() {
		return fmt.Errorf("%s: derived Err = %v, parent's %v", name, derived.Err(), ctx.Err())
	}
	return nil
}

func TestCallCtxMatchesWithDeadline(t *testing.T) {
	const scenarios, parallel = 400, 50
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	for start := 0; start < scenarios; start += parallel {
		var wg sync.WaitGroup
		errs := make([]error, parallel)
		batch := make([]ctxScenario, parallel)
		for i := range batch {
			batch[i] = randomScenario(r)
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs[i] = runCtxScenario(batch[i])
			}(i)
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("scenario %+v: %v", batch[i], err)
			}
		}
	}
}

// A Done made after the deadline has passed, or after the parent
// ended, is returned closed, and asking again returns the same closed
// channel: the crash of issue 9 closed it twice.
func TestCallCtxDoneAfterEnd(t *testing.T) {
	c := newCallCtx(newScope(context.Background()), 1)
	time.Sleep(5 * time.Millisecond)
	for range 3 {
		select {
		case <-c.Done():
		default:
			t.Fatal("Done open after the deadline")
		}
	}
	parent := newScope(context.Background())
	parent.end()
	c = newCallCtx(parent, 0)
	for range 3 {
		<-c.Done()
	}
	if !errors.Is(c.Err(), context.Canceled) {
		t.Fatalf("Err = %v", c.Err())
	}
}
