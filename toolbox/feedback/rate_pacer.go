package feedback

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gozmp/zmp/core"
)

// Defaults of a PublishPacer's token bucket.
const (
	DefaultPacerRate  = 1000.0 // initial rate, messages per second
	DefaultPacerMin   = 1.0    // lowest rate the loop sets, messages per second
	DefaultPacerBurst = 10     // messages that may go at once after a pause
)

// PublishPacer paces what an application publishes on one topic through
// a token bucket, and is the control loop that sets the bucket's rate
// so that a measured signal stays at its set point. By default the
// signal is the share of the topic's messages that the peer dropped
// for its subscribers in the window (core.TopicStats: Dropped out of
// Delivered+Dropped); WithDropSignal supplies a loss share measured
// elsewhere (SubscriptionLoss on the subscriber, reported back), and
// WithLagSignal a lag. Above the set point the rate falls, in
// proportion to the excess; below it the rate rises, at a bounded pace,
// so a subscriber that cannot keep up slows the publisher to what it
// takes, and one that recovers lets it speed up again.
//
// The application publishes with Publish (waits for a token) or
// TryPublish (never waits); a Runner, or a simulation, calls Step once
// per window. A PublishPacer is safe for concurrent use. It starts no
// goroutines and needs no Close; a Publish waiting for a token returns
// when its context ends.
type PublishPacer struct {
	peer   *core.Peer
	topic  string
	bucket *RateLimiter
	signal func() float64 // nil: the peer's drops on the topic

	published, refused, failed atomic.Uint64

	mu       sync.Mutex // guards the loop's state below
	loop     *rateLoop
	prevTop  core.TopicStats
	havePrev bool
	prevPub  uint64
	last     PacerStats
}

// PacerStats is a PublishPacer's last window and its counters.
type PacerStats struct {
	Rate     float64 // the bucket's rate now, messages per second
	Signal   float64 // the last window's measurement; NaN when none
	Setpoint float64 // the measurement's set point
	Used     float64 // messages per second published in the last window
	// Published counts the messages the pacer handed to the peer,
	// Refused those it did not: TryPublish without a token, or Publish
	// whose context ended first. Failed counts the peer's errors.
	Published, Refused, Failed uint64
	Windows                    uint64 // calls of Step
}

// PacerOption configures a PublishPacer; giving one twice replaces the
// earlier value.
type PacerOption func(*pacerConfig) error

type pacerConfig struct {
	loop            rateLoopConfig
	rate, min, max  float64
	burst           int
	signal          func() float64
	lagSet, dropSet bool
	lagSetpoint     float64
}

// WithPacerRate sets the bucket's initial rate and the bounds the loop
// keeps it within, in messages per second: 0 < min ≤ initial ≤ max,
// max may be +Inf. The default controller also keeps the rate above a
// thousandth of the initial rate. Default: 1000 within [1, +Inf].
func WithPacerRate(initial, min, max float64) PacerOption {
	return func(c *pacerConfig) error {
		if !(min > 0) || math.IsInf(min, 1) || !(initial >= min) || !(max >= initial) || math.IsInf(initial, 1) {
			return fmt.Errorf("%w: rate %v within [%v, %v]", ErrInvalidRateLoopOption, initial, min, max)
		}
		c.rate, c.min, c.max = initial, min, max
		return nil
	}
}

// WithPacerBurst sets how many messages may go at once after a pause,
// the bucket's size; at least 1. Default 10.
func WithPacerBurst(n int) PacerOption {
	return func(c *pacerConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: burst %d is below 1", ErrInvalidRateLoopOption, n)
		}
		c.burst = n
		return nil
	}
}

// WithPacerSetpoint sets the loss share the loop holds, in (0, 1).
// Default 0.01 (1 %). It does not apply with WithLagSignal, which
// carries its own set point.
func WithPacerSetpoint(share float64) PacerOption {
	return func(c *pacerConfig) error { return c.loop.setLossSetpoint(share) }
}

// WithDropSignal makes the loop hold the loss share f returns at the
// set point instead of the peer's own drops on the topic: typically the
// share lost by the subscribers (SubscriptionLoss), which they report
// to the publisher over a topic or a service. f is called once per
// Step, from Step's goroutine; it returns a share in [0, 1] for the
// window since its previous call, or NaN when nothing was measured (the
// loop then holds the rate).
func WithDropSignal(f func() float64) PacerOption {
	return func(c *pacerConfig) error {
		if f == nil {
			return fmt.Errorf("%w: nil drop signal", ErrInvalidRateLoopOption)
		}
		c.signal, c.dropSet, c.lagSet = f, true, false
		return nil
	}
}

// WithLagSignal makes the loop hold a lag at setpoint instead of a loss
// share: how far the subscribers are behind, in a unit of the
// application's (queued messages, seconds), as f returns it, NaN when
// not measured. Above the set point the rate falls by the factor
// lag/setpoint per window at most; below it, it rises as with a loss
// share. setpoint must be positive and finite. It replaces
// WithDropSignal.
func WithLagSignal(f func() float64, setpoint float64) PacerOption {
	return func(c *pacerConfig) error {
		if f == nil || !(setpoint > 0) || math.IsInf(setpoint, 1) {
			return fmt.Errorf("%w: lag signal needs a function and a positive set point, got %v", ErrInvalidRateLoopOption, setpoint)
		}
		c.signal, c.lagSet, c.dropSet, c.lagSetpoint = f, true, false, setpoint
		return nil
	}
}

// WithPacerGains sets the default controller's gains: it is a PI on the
// natural logarithm of the rate, whose error is the signal's excess
// over its set point (ln((1−s)/(1−y)) for a loss share y above its set
// point s, ln(y/s) for a lag, and a bounded probe, at most 0.25, below
// it). Kp ≥ 0 is per unit of that error, Ki > 0 per second. Default
// Kp 0.3, Ki 2: with a 100 ms window a loss above the set point is
// corrected by about half in the first window. Does not apply with
// WithPacerController.
func WithPacerGains(kp, ki float64) PacerOption {
	return func(c *pacerConfig) error { return c.loop.setGains(kp, ki) }
}

// WithPacerController replaces the default controller with ctrl, which
// is given each window's raw signal and returns the rate in messages
// per second (clamped to the bounds). Default: the PI described at
// WithPacerGains.
func WithPacerController(ctrl Controller) PacerOption {
	return func(c *pacerConfig) error { return c.loop.setController(ctrl) }
}

// WithPacerHeadroom sets how far the loop lets the rate rise above what
// the application actually published in the last window: with factor
// f, the rate rises only while the application used at least 1/f of
// it, so a quiet publisher keeps the rate its subscribers last proved
// they could take instead of a rate that would let the next burst
// through unpaced. f ≥ 1. Default 2.
func WithPacerHeadroom(f float64) PacerOption {
	return func(c *pacerConfig) error { return c.loop.setHeadroom(f) }
}

// NewPublishPacer returns a pacer for topic on peer. It fails with
// ErrInvalidRateLoopOption when an option is unusable or does not
// apply.
func NewPublishPacer(peer *core.Peer, topic string, opts ...PacerOption) (*PublishPacer, error) {
	if peer == nil || topic == "" {
		return nil, fmt.Errorf("%w: a pacer needs a peer and a topic", ErrInvalidRateLoopOption)
	}
	c := pacerConfig{loop: defaultRateLoopConfig(), rate: DefaultPacerRate, min: DefaultPacerMin, max: math.Inf(1), burst: DefaultPacerBurst}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if c.lagSet {
		if c.loop.setpointSet {
			return nil, fmt.Errorf("%w: WithPacerSetpoint given with WithLagSignal", ErrInvalidRateLoopOption)
		}
		c.loop.level, c.loop.setpoint = true, c.lagSetpoint
	}
	bucket, err := NewRateLimiter(c.rate, c.burst, WithRateBounds(c.min, c.max))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRateLoopOption, err)
	}
	loop, err := newRateLoop(bucket, c.loop)
	if err != nil {
		return nil, err
	}
	p := &PublishPacer{peer: peer, topic: topic, bucket: bucket, signal: c.signal, loop: loop}
	p.last = PacerStats{Rate: bucket.Rate(), Signal: math.NaN(), Setpoint: c.loop.setpoint}
	return p, nil
}

// Publish waits for a token, until ctx ends, then publishes data as
// core.Peer.Publish does (data is copied; the caller may reuse it).
// When ctx ends, or would end before the next token, it returns an
// error wrapping ErrRateLimited (and the context's error) and publishes
// nothing.
func (p *PublishPacer) Publish(ctx context.Context, data []byte) error {
	if err := p.bucket.Wait(ctx); err != nil {
		p.refused.Add(1)
		return err
	}
	return p.send(data)
}

// TryPublish publishes data if a token is available now, and otherwise
// returns ErrRateLimited at once and counts the message as refused.
func (p *PublishPacer) TryPublish(data []byte) error {
	if !p.bucket.Allow() {
		p.refused.Add(1)
		return fmt.Errorf("%w: topic %q at %.4g messages/s", ErrRateLimited, p.topic, p.bucket.Rate())
	}
	return p.send(data)
}

func (p *PublishPacer) send(data []byte) error {
	if err := p.peer.Publish(p.topic, data); err != nil {
		p.failed.Add(1)
		return err
	}
	p.published.Add(1)
	return nil
}

// Step measures the window of dt that ended now and sets the rate.
func (p *PublishPacer) Step(dt time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	y := p.measure()
	pub := p.published.Load()
	used := math.NaN()
	if dt > 0 {
		used = float64(pub-p.prevPub) / dt.Seconds()
	}
	p.prevPub = pub
	p.last.Rate = p.loop.update(y, used, dt)
	p.last.Signal, p.last.Used = y, used
	p.last.Windows++
}

// measure returns the window's signal: the caller's, or the share of
// the topic's messages the peer dropped since the previous call.
func (p *PublishPacer) measure() float64 {
	if p.signal != nil {
		return p.signal()
	}
	ts := p.peer.Stats().Topics[p.topic]
	prev, had := p.prevTop, p.havePrev
	p.prevTop, p.havePrev = ts, true
	if !had || ts.Dropped < prev.Dropped || ts.Delivered < prev.Delivered {
		return math.NaN()
	}
	return lossShare(ts.Dropped-prev.Dropped, ts.Delivered-prev.Delivered)
}

// Stats returns the last window's figures and the counters.
func (p *PublishPacer) Stats() PacerStats {
	p.mu.Lock()
	s := p.last
	p.mu.Unlock()
	s.Rate = p.bucket.Rate()
	s.Published, s.Refused, s.Failed = p.published.Load(), p.refused.Load(), p.failed.Load()
	return s
}

// Bucket returns the pacer's token bucket, to read its counters; its
// rate is the loop's to set.
func (p *PublishPacer) Bucket() *RateLimiter { return p.bucket }
