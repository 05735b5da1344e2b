package feedback

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Stepper is a control loop that advances one window per call: it
// measures what happened since the last call, dt ago, updates its
// controller and turns its knob. The ready-made loops are Steppers, so
// a simulation drives them window by window on virtual time and a
// Runner drives them on real time.
type Stepper interface {
	Step(dt time.Duration)
}

// StepFunc adapts a function to a Stepper.
type StepFunc func(dt time.Duration)

// Step calls f(dt).
func (f StepFunc) Step(dt time.Duration) { f(dt) }

// ErrRunnerConfig is returned by NewRunner for a nil Stepper or an
// interval that is not positive.
var ErrRunnerConfig = errors.New("feedback: invalid runner config")

// Runner calls a Stepper every interval on one goroutine of its own,
// passing the real time elapsed since the previous call (the first call
// gets the time since the Runner started). A step that runs late is not
// made up for: the next call's dt is longer. Close stops it.
type Runner struct {
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// NewRunner starts calling s.Step every interval.
func NewRunner(s Stepper, interval time.Duration) (*Runner, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: nil Stepper", ErrRunnerConfig)
	}
	if interval <= 0 {
		return nil, fmt.Errorf("%w: interval %v: want > 0", ErrRunnerConfig, interval)
	}
	r := &Runner{stop: make(chan struct{}), done: make(chan struct{})}
	go r.run(s, interval)
	return r, nil
}

func (r *Runner) run(s Stepper, interval time.Duration) {
	defer close(r.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-r.stop:
			return
		case now := <-t.C:
			s.Step(now.Sub(last))
			last = now
		}
	}
}

// Close stops the Runner and waits for a step in progress to return.
// It is idempotent and safe to call from several goroutines, but not
// from inside Step, which would wait for itself.
func (r *Runner) Close() error {
	r.stopOnce.Do(func() { close(r.stop) })
	<-r.done
	return nil
}
