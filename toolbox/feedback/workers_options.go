package feedback

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidWorkerLoop is returned by NewWorkerLoop, NewWorkerSet and
// their options for an argument out of range.
var ErrInvalidWorkerLoop = errors.New("feedback: invalid worker loop config")

// WorkerLoopOption configures a WorkerLoop.
type WorkerLoopOption func(*workerLoopConfig) error

type workerLoopConfig struct {
	min, max     int
	downDelay    time.Duration
	drain        time.Duration
	scaleTimeout time.Duration
}

func defaultWorkerLoopConfig() workerLoopConfig {
	return workerLoopConfig{min: 1, max: 64, downDelay: 5 * time.Second, drain: time.Second, scaleTimeout: 10 * time.Second}
}

// WithWorkerBounds keeps the number of workers within [min, max]
// (0 ≤ min ≤ max, max ≥ 1). Default 1 and 64; repeating replaces.
func WithWorkerBounds(min, max int) WorkerLoopOption {
	return func(c *workerLoopConfig) error {
		if min < 0 || max < 1 || min > max {
			return fmt.Errorf("%w: worker bounds [%d, %d]", ErrInvalidWorkerLoop, min, max)
		}
		c.min, c.max = min, max
		return nil
	}
}

// WithScaleDownDelay sets how long the loop must want fewer workers
// before it removes any (and more, when the rate estimate's noise band
// does not rule out that it needs no more), and the time scale of its
// feedback term (≥ 0).
// Longer is steadier and costs more worker time after a load drop.
// Default 5 s; repeating replaces.
func WithScaleDownDelay(d time.Duration) WorkerLoopOption {
	return func(c *workerLoopConfig) error {
		if d < 0 {
			return fmt.Errorf("%w: scale-down delay %v < 0", ErrInvalidWorkerLoop, d)
		}
		c.downDelay = d
		return nil
	}
}

// WithDrainTime sets the time within which extra workers should serve
// a backlog (> 0): queued requests whose oldest has waited more than
// twice the target and that the running workers would take longer than
// the target to serve. Shorter adds more workers at once. Default 1 s;
// repeating replaces.
func WithDrainTime(d time.Duration) WorkerLoopOption {
	return func(c *workerLoopConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: drain time %v: want > 0", ErrInvalidWorkerLoop, d)
		}
		c.drain = d
		return nil
	}
}

// WithScaleTimeout bounds how long one Step waits for the Scaler's
// SetWorkers (> 0). Default 10 s; repeating replaces.
func WithScaleTimeout(d time.Duration) WorkerLoopOption {
	return func(c *workerLoopConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: scale timeout %v: want > 0", ErrInvalidWorkerLoop, d)
		}
		c.scaleTimeout = d
		return nil
	}
}
