package supervise

import (
	"fmt"
	"math"
	"time"
)

// Backoff spaces out the restarts of a child that keeps failing. The
// restarts of one child since it last stayed up for ResetAfter form a
// streak: the first restart of a streak is immediate, as in OTP; the
// n-th (n ≥ 2) waits Initial·Multiplier^(n-2), at most Max, scaled by a
// factor drawn uniformly from [1-Jitter, 1+Jitter] and capped at Max
// again. Under OneForAll and RestForOne the delay is that of the child
// whose exit caused the restart; its siblings are stopped at once and
// started together after the delay. While a child waits it is
// "restarting" (ChildInfo.State), and it counts as active for
// AllSignificant.
//
// The zero Backoff (NoBackoff) restarts at once every time, exactly as
// OTP does. Restart intensity (WithIntensity) counts restarts when they
// are decided, whatever their delay.
type Backoff struct {
	// Initial is the delay before the second restart of a streak.
	// 0 disables backoff: every restart is immediate.
	Initial time.Duration
	// Max bounds every delay. Must be ≥ Initial.
	Max time.Duration
	// Multiplier is the growth from one delay to the next; ≥ 1.
	Multiplier float64
	// Jitter is the relative spread of each delay, in [0, 1).
	Jitter float64
	// ResetAfter ends a streak: a child that stayed up at least this
	// long before it ended starts a new streak. Must be > 0 when
	// Initial is.
	ResetAfter time.Duration
}

// Defaults of DefaultBackoff.
const (
	DefaultBackoffInitial    = 50 * time.Millisecond
	DefaultBackoffMax        = 5 * time.Second
	DefaultBackoffMultiplier = 2.0
	DefaultBackoffJitter     = 0.2
	DefaultBackoffResetAfter = 10 * time.Second
)

// DefaultBackoff is the backoff of a supervisor without WithBackoff:
// the first restart at once, then 50 ms, 100 ms, 200 ms … up to 5 s,
// ±20 %, starting over after a child stayed up 10 s.
func DefaultBackoff() Backoff {
	return Backoff{
		Initial: DefaultBackoffInitial, Max: DefaultBackoffMax, Multiplier: DefaultBackoffMultiplier,
		Jitter: DefaultBackoffJitter, ResetAfter: DefaultBackoffResetAfter,
	}
}

// NoBackoff restarts at once every time, as OTP does.
func NoBackoff() Backoff { return Backoff{} }

// Enabled reports whether b delays any restart.
func (b Backoff) Enabled() bool { return b.Initial > 0 }

func (b Backoff) validate() error {
	if b == (Backoff{}) {
		return nil
	}
	switch {
	case b.Initial <= 0:
		return fmt.Errorf("%w: backoff Initial %v must be > 0 (or use NoBackoff)", ErrBadOption, b.Initial)
	case b.Max < b.Initial:
		return fmt.Errorf("%w: backoff Max %v below Initial %v", ErrBadOption, b.Max, b.Initial)
	case !(b.Multiplier >= 1) || math.IsInf(b.Multiplier, 0):
		return fmt.Errorf("%w: backoff Multiplier %v must be ≥ 1", ErrBadOption, b.Multiplier)
	case !(b.Jitter >= 0 && b.Jitter < 1):
		return fmt.Errorf("%w: backoff Jitter %v must be in [0, 1)", ErrBadOption, b.Jitter)
	case b.ResetAfter <= 0:
		return fmt.Errorf("%w: backoff ResetAfter %v must be > 0", ErrBadOption, b.ResetAfter)
	}
	return nil
}

// delay is the wait before restart n (1-based) of a streak, given u
// drawn uniformly from [0, 1).
func (b Backoff) delay(n int, u float64) time.Duration {
	if !b.Enabled() || n <= 1 {
		return 0
	}
	base := float64(b.Initial) * math.Pow(b.Multiplier, float64(n-2))
	base = math.Min(base, float64(b.Max))
	d := base * (1 + b.Jitter*(2*u-1))
	return time.Duration(math.Min(d, float64(b.Max)))
}
