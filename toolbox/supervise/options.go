package supervise

import (
	"fmt"
	"log/slog"
	"time"
)

// Defaults of a Supervisor.
const (
	// DefaultMaxRestarts and DefaultPeriod are the restart intensity of
	// a supervisor without WithIntensity: more than 3 restarts within
	// 5 s fail it. (OTP's default is 1 in 5 s; child processes take
	// longer to start and fail than Erlang processes, hence 3.)
	DefaultMaxRestarts = 3
	DefaultPeriod      = 5 * time.Second
	// DefaultStartTimeout bounds each child's Start.
	DefaultStartTimeout = 30 * time.Second
	// DefaultEventRing is how many recent events Stats keeps.
	DefaultEventRing = 64
	// DefaultEventQueue is how many events may wait for WithEventFunc's
	// function.
	DefaultEventQueue = 256
)

// Option configures a Supervisor made by New.
type Option func(*config) error

type config struct {
	maxRestarts  int
	period       time.Duration
	backoff      Backoff
	auto         AutoShutdown
	template     *Template
	startTimeout time.Duration
	logger       *slog.Logger
	onEvent      func(Event)
	eventQueue   int
	queueSet     bool // WithEventQueue was given
	eventRing    int
	clock        clock
	rand         func() float64 // uniform in [0, 1), for jitter
}

func defaultConfig() config {
	return config{
		maxRestarts: DefaultMaxRestarts, period: DefaultPeriod, backoff: DefaultBackoff(),
		startTimeout: DefaultStartTimeout, eventQueue: DefaultEventQueue, eventRing: DefaultEventRing,
	}
}

// WithIntensity sets the restart intensity: when more than maxRestarts
// restarts are decided within period, the supervisor stops all its
// children (in reverse start order) and fails with ErrIntensity. A
// restart at time r is within the period at time t when t-r < period.
// maxRestarts 0 fails on the first restart. Default
// DefaultMaxRestarts in DefaultPeriod; a repeated option replaces.
func WithIntensity(maxRestarts int, period time.Duration) Option {
	return func(c *config) error {
		if maxRestarts < 0 || period <= 0 {
			return fmt.Errorf("%w: WithIntensity(%d, %v): need maxRestarts ≥ 0 and period > 0", ErrBadOption, maxRestarts, period)
		}
		c.maxRestarts, c.period = maxRestarts, period
		return nil
	}
}

// WithBackoff sets how restarts of a failing child are spaced out.
// Default DefaultBackoff(); NoBackoff() restarts at once as OTP does.
// A repeated option replaces.
func WithBackoff(b Backoff) Option {
	return func(c *config) error {
		if err := b.validate(); err != nil {
			return err
		}
		c.backoff = b
		return nil
	}
}

// WithAutoShutdown sets when significant children end the supervisor.
// Default Never (no child may be significant). A repeated option
// replaces.
func WithAutoShutdown(a AutoShutdown) Option {
	return func(c *config) error {
		if a < Never || a > AllSignificant {
			return fmt.Errorf("%w: WithAutoShutdown(%d)", ErrBadOption, int(a))
		}
		c.auto = a
		return nil
	}
}

// WithTemplate gives a SimpleOneForOne supervisor its children's
// template; it is required there and an error for other strategies.
// A repeated option replaces.
func WithTemplate(t Template) Option {
	return func(c *config) error {
		if t.New == nil {
			return fmt.Errorf("%w: WithTemplate without New", ErrBadOption)
		}
		c.template = &t
		return nil
	}
}

// WithStartTimeout bounds each child's Start. Default
// DefaultStartTimeout. A repeated option replaces.
func WithStartTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: WithStartTimeout(%v)", ErrBadOption, d)
		}
		c.startTimeout = d
		return nil
	}
}

// WithLogger sets where starts, exits, restarts and stops are logged.
// Default slog.Default() as it is when New runs. A repeated option
// replaces.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: WithLogger(nil)", ErrBadOption)
		}
		c.logger = l
		return nil
	}
}

// WithEventFunc calls f with every event, in order, from one goroutine
// of the supervisor's, never from the supervisor's own: events wait in
// a queue of WithEventQueue entries, and when it is full new events are
// dropped and counted (Stats.EventsDropped), so a slow f never holds
// the supervisor up. f must not call Close or Shutdown of this
// supervisor. Default: none. A repeated option replaces.
func WithEventFunc(f func(Event)) Option {
	return func(c *config) error {
		if f == nil {
			return fmt.Errorf("%w: WithEventFunc(nil)", ErrBadOption)
		}
		c.onEvent = f
		return nil
	}
}

// WithEventQueue bounds the queue of events waiting for WithEventFunc's
// function. Default DefaultEventQueue; it is an error without
// WithEventFunc. A repeated option replaces.
func WithEventQueue(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("%w: WithEventQueue(%d)", ErrBadOption, n)
		}
		c.eventQueue, c.queueSet = n, true
		return nil
	}
}

// WithEventRing sets how many recent events Stats keeps; older ones are
// dropped and counted (Stats.RingDropped). Default DefaultEventRing.
// A repeated option replaces.
func WithEventRing(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("%w: WithEventRing(%d)", ErrBadOption, n)
		}
		c.eventRing = n
		return nil
	}
}

// buildConfig applies opts and checks they fit the strategy.
func buildConfig(strategy Strategy, opts []Option) (config, error) {
	c := defaultConfig()
	for _, o := range opts {
		if o == nil {
			return c, fmt.Errorf("%w: nil option", ErrBadOption)
		}
		if err := o(&c); err != nil {
			return c, err
		}
	}
	if c.queueSet && c.onEvent == nil {
		return c, fmt.Errorf("%w: WithEventQueue without WithEventFunc", ErrBadOption)
	}
	if (strategy == SimpleOneForOne) != (c.template != nil) {
		return c, fmt.Errorf("%w: WithTemplate goes with SimpleOneForOne, and only with it", ErrBadOption)
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.clock == nil {
		c.clock = realClock{}
	}
	if c.rand == nil {
		c.rand = newJitterSource()
	}
	return c, nil
}
