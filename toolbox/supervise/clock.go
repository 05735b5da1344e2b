package supervise

import (
	"math/rand/v2"
	"time"
)

// clock is the supervisor's time: real, or a fake one in tests.
type clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d; stop cancels it
	// and reports whether it did so before f was called.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// newJitterSource returns uniform draws in [0, 1) for backoff jitter.
func newJitterSource() func() float64 { return rand.Float64 }

// withClock and withRand are test seams: a fake clock, fixed draws.
func withClock(c clock) Option {
	return func(cfg *config) error { cfg.clock = c; return nil }
}

func withRand(f func() float64) Option {
	return func(cfg *config) error { cfg.rand = f; return nil }
}
