package feedback

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/core/coretest"
)

// slowReader reads a subscription, sleeping delay after each message:
// a subscriber whose capacity the test sets.
type slowReader struct {
	sub      *core.Subscription
	delay    atomic.Int64 // nanoseconds per message
	consumed atomic.Uint64
	cancel   context.CancelFunc
	done     chan struct{}
}

func startSlowReader(sub *core.Subscription, delay time.Duration) *slowReader {
	ctx, cancel := context.WithCancel(context.Background())
	r := &slowReader{sub: sub, cancel: cancel, done: make(chan struct{})}
	r.delay.Store(int64(delay))
	go func() {
		defer close(r.done)
		for {
			if _, err := sub.Next(ctx); err != nil {
				return
			}
			time.Sleep(time.Duration(r.delay.Load()))
			r.consumed.Add(1)
		}
	}()
	return r
}

func (r *slowReader) stop() {
	r.cancel()
	<-r.done
}

// pubsubPair is a publisher and a subscriber of topic "ticks", connected,
// whose subscription queue holds queue messages.
func pubsubPair(t *testing.T, queue int, subOpts ...core.Option) (*core.Peer, *core.Subscription) {
	t.Helper()
	reg := coretest.NewRegistry(t)
	pub := coretest.NewPeer(t, "pub", core.WithRegistry(reg))
	subPeer := coretest.NewPeer(t, "sub", append([]core.Option{core.WithRegistry(reg)}, subOpts...)...)
	sub, err := subPeer.Subscribe("ticks", core.WithQueue(queue, core.DropNewest))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	if err := pub.Advertise("ticks"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sub.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	return pub, sub
}

// publishLoop publishes through send until ctx ends, on a goroutine
// that the returned function waits for.
func publishLoop(ctx context.Context, send func(ctx context.Context) error) (wait func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			_ = send(wctx)
			cancel()
		}
	}()
	return wg.Wait
}

// observe measures, over d, a subscription's loss share, the rate its
// reader consumed and, when p is not nil, the pacer's mean rate
// (sampled every 50 ms).
func observe(sub *core.Subscription, r *slowReader, p *PublishPacer, d time.Duration) (loss, consumed, rate float64) {
	s0, c0 := sub.Stats(), r.consumed.Load()
	sum, n := 0.0, 0
	for end := time.Now().Add(d); time.Now().Before(end); n++ {
		if p != nil {
			sum += p.Stats().Rate
		}
		time.Sleep(50 * time.Millisecond)
	}
	s1, c1 := sub.Stats(), r.consumed.Load()
	lost := float64((s1.Dropped - s0.Dropped) + (s1.Missed - s0.Missed))
	got := float64(s1.Received - s0.Received)
	return lost / math.Max(1, lost+got), float64(c1-c0) / d.Seconds(), sum / float64(max(n, 1))
}

// A subscriber that sleeps 2 ms a message cannot take what a fast
// publisher sends: unpaced, most messages are lost. Paced on the loss
// the subscriber measures, the publisher slows to about what it takes,
// the loss falls near the set point, and when the subscriber speeds up
// the rate rises again.
func TestRatePublishPacerFollowsSlowSubscriber(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time test")
	}
	const payload = "0123456789abcdef0123456789abcdef"
	pub, sub := pubsubPair(t, 50)
	reader := startSlowReader(sub, 2*time.Millisecond)
	defer reader.stop()

	// Unpaced: a fixed 3,000 messages a second.
	fixed, err := NewRateLimiter(3000, 10)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	wait := publishLoop(ctx, func(ctx context.Context) error {
		if err := fixed.Wait(ctx); err != nil {
			return err
		}
		return pub.Publish("ticks", []byte(payload))
	})
	time.Sleep(300 * time.Millisecond)
	bareLoss, bareTaken, _ := observe(sub, reader, nil, 1500*time.Millisecond)
	cancel()
	wait()
	t.Logf("unpaced at 3000/s: loss %.3f, subscriber took %.0f/s", bareLoss, bareTaken)
	if bareLoss < 0.5 {
		t.Fatalf("unpaced loss %.3f: the subscriber keeps up, the test proves nothing", bareLoss)
	}
	time.Sleep(300 * time.Millisecond) // let the subscriber's queue drain

	pacer, err := NewPublishPacer(pub, "ticks", WithPacerRate(1000, 10, 20000), WithDropSignal(SubscriptionLoss(sub)))
	if err != nil {
		t.Fatal(err)
	}
	run, err := NewRunner(pacer, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	wait = publishLoop(ctx, func(ctx context.Context) error { return pacer.Publish(ctx, []byte(payload)) })
	defer func() { cancel(); wait() }() // stop the senders first, even on t.Fatal

	time.Sleep(3 * time.Second)
	slowLoss, slowTaken, slowRate := observe(sub, reader, pacer, 2500*time.Millisecond)
	t.Logf("paced, slow subscriber: loss %.3f, subscriber took %.0f/s, mean rate %.0f/s", slowLoss, slowTaken, slowRate)
	if slowLoss > 0.2 || slowLoss > bareLoss/3 {
		t.Errorf("paced loss %.3f (unpaced %.3f), want near the set point %.2f", slowLoss, bareLoss, DefaultLossSetpoint)
	}
	if slowRate < 0.5*slowTaken || slowRate > 2*slowTaken {
		t.Errorf("paced rate %.0f/s, the subscriber takes %.0f/s", slowRate, slowTaken)
	}

	reader.delay.Store(int64(200 * time.Microsecond))
	time.Sleep(2500 * time.Millisecond)
	fastLoss, fastTaken, fastRate := observe(sub, reader, pacer, 2*time.Second)
	t.Logf("paced, subscriber sped up: loss %.3f, subscriber took %.0f/s, mean rate %.0f/s", fastLoss, fastTaken, fastRate)
	if fastRate < 1.5*slowRate {
		t.Errorf("rate %.0f/s after the subscriber sped up, was %.0f/s", fastRate, slowRate)
	}
	cancel()
	wait()
	s := pacer.Stats()
	t.Logf("pacer: %+v", s)
	if s.Published == 0 || s.Windows == 0 {
		t.Errorf("pacer stats %+v", s)
	}
}

// A subscriber whose connection stops reading (stalled) makes the
// publisher drop for it: the default signal, the peer's own drops,
// brings the rate down, and no Publish waits past its context. When
// the subscriber goes away the pacer keeps its rate.
func TestRatePublishPacerStalledSubscriber(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time test")
	}
	net := coretest.NewNetwork()
	pub, sub := pubsubPair(t, 1000, net.Option())
	reader := startSlowReader(sub, 0)
	defer reader.stop()
	payload := make([]byte, 16<<10)

	pacer, err := NewPublishPacer(pub, "ticks", WithPacerRate(2000, 10, 20000))
	if err != nil {
		t.Fatal(err)
	}
	run, err := NewRunner(pacer, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var slowest atomic.Int64
	wait := publishLoop(ctx, func(ctx context.Context) error {
		start := time.Now()
		err := pacer.Publish(ctx, payload)
		if d := int64(time.Since(start)); d > slowest.Load() {
			slowest.Store(d)
		}
		return err
	})
	defer func() { cancel(); wait() }() // stop the senders first, even on t.Fatal

	net.Stall("")
	sawDrops := false
	coretest.WaitFor(t, 20*time.Second, "the pacer to see the stalled subscriber's drops and slow down", func() bool {
		s := pacer.Stats()
		sawDrops = sawDrops || s.Signal > 0
		return sawDrops && s.Rate < 1000
	})
	t.Logf("stalled: %+v, topic %+v", pacer.Stats(), pub.Stats().Topics["ticks"])
	net.Heal("")
	sub.Close()
	// With no subscriber left nothing is measured: the rate holds.
	held, windows := 0, pacer.Stats().Windows
	prev := pacer.Stats().Rate
	coretest.WaitFor(t, 20*time.Second, "the rate to hold without subscribers", func() bool {
		s := pacer.Stats()
		if s.Windows == windows {
			return false
		}
		windows = s.Windows
		if s.Rate == prev && math.IsNaN(s.Signal) {
			held++
		} else {
			held, prev = 0, s.Rate
		}
		return held >= 5
	})
	cancel()
	wait()
	// Each Publish waited at most its 200 ms context, plus scheduling.
	if d := time.Duration(slowest.Load()); d > 2*time.Second {
		t.Errorf("a Publish took %v with a 200 ms context", d)
	}
}

func TestRatePublishPacerWaitsEndWithContext(t *testing.T) {
	pub := coretest.NewPeer(t, "pub", core.WithRegistry(coretest.NewRegistry(t)))
	pacer, err := NewPublishPacer(pub, "ticks", WithPacerRate(1, 1, 10), WithPacerBurst(1))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := pacer.Publish(ctx, []byte("a")); err != nil {
		t.Fatal(err)
	}
	// The next token is a second away: a 50 ms deadline fails at once.
	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := pacer.Publish(dctx, []byte("b")); !errors.Is(err, ErrRateLimited) {
		t.Errorf("Publish past the deadline: %v", err)
	}
	if err := pacer.TryPublish([]byte("c")); !errors.Is(err, ErrRateLimited) {
		t.Errorf("TryPublish without a token: %v", err)
	}
	// A wait with no deadline ends when its context is cancelled.
	cctx, ccancel := context.WithCancel(ctx)
	go func() { time.Sleep(50 * time.Millisecond); ccancel() }()
	if err := pacer.Publish(cctx, []byte("d")); !errors.Is(err, ErrRateLimited) || !errors.Is(err, context.Canceled) {
		t.Errorf("Publish cancelled while waiting: %v", err)
	}
	s := pacer.Stats()
	if s.Published != 1 || s.Refused != 3 {
		t.Errorf("stats %+v, want 1 published, 3 refused", s)
	}
}

// Paced on the subscriber's lag, its queue's length, instead of its
// loss: the publisher holds the queue near 20 of its 1,000 places, so
// nothing is lost, and sends about what the subscriber takes.
func TestRatePublishPacerHoldsLag(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time test")
	}
	const lagSetpoint = 20.0
	pub, sub := pubsubPair(t, 1000)
	reader := startSlowReader(sub, 2*time.Millisecond)
	defer reader.stop()
	lag := func() float64 { return float64(sub.Stats().Queued) }
	pacer, err := NewPublishPacer(pub, "ticks", WithPacerRate(1000, 10, 20000), WithLagSignal(lag, lagSetpoint))
	if err != nil {
		t.Fatal(err)
	}
	run, err := NewRunner(pacer, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := publishLoop(ctx, func(ctx context.Context) error { return pacer.Publish(ctx, []byte("tick")) })
	defer func() { cancel(); wait() }() // stop the senders first, even on t.Fatal

	time.Sleep(2500 * time.Millisecond)
	var lagSum, lagMax float64
	var n int
	s0, c0 := sub.Stats(), reader.consumed.Load()
	rateSum := 0.0
	for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); n++ {
		l := lag()
		lagSum += l
		lagMax = math.Max(lagMax, l)
		rateSum += pacer.Stats().Rate
		time.Sleep(50 * time.Millisecond)
	}
	s1, c1 := sub.Stats(), reader.consumed.Load()
	taken := float64(c1-c0) / 2.5
	meanLag, meanRate := lagSum/float64(n), rateSum/float64(n)
	t.Logf("lag-paced: mean queue %.1f (set point %v, max %v), dropped %d, subscriber took %.0f/s, mean rate %.0f/s",
		meanLag, lagSetpoint, lagMax, s1.Dropped-s0.Dropped, taken, meanRate)
	if meanLag > 5*lagSetpoint {
		t.Errorf("mean queue %.1f, set point %v", meanLag, lagSetpoint)
	}
	if s1.Dropped != s0.Dropped {
		t.Errorf("%d messages dropped while holding the lag", s1.Dropped-s0.Dropped)
	}
	if meanRate < 0.5*taken || meanRate > 2*taken {
		t.Errorf("mean rate %.0f/s, the subscriber takes %.0f/s", meanRate, taken)
	}
}
