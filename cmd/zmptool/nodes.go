package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gozmp/zmp/core"
)

// Node kinds zmptool can run as child processes of itself.
const (
	kindCalc   = "selftest-calc"
	kindSensor = "selftest-sensor"
	kindRelay  = "selftest-relay"
)

// Topics of the selftest pipeline: sensor → relay → observer.
const (
	topicRaw    = "selftest.raw"
	topicScaled = "selftest.scaled"
)

func newLauncher() (*core.Launcher, error) {
	l, err := core.NewLauncher(core.WithNodeOptions(registryOpener())) // nodes of an agent read kv:// too
	if err != nil {
		return nil, err
	}
	return l, errors.Join(
		l.Register(kindCalc, calcBehavior),
		l.Register(kindSensor, sensorBehavior),
		l.Register(kindRelay, relayBehavior),
		registerAgentKinds(l),
	)
}

type addArgs struct {
	A int `json:"a"`
	B int `json:"b"`
}

// calcBehavior provides add, and fail, which always returns an error.
func calcBehavior() core.Behavior {
	return core.Behavior{Setup: func(ctx context.Context, p *core.Peer) error {
		return errors.Join(
			core.Provide(p, "selftest.add", func(_ context.Context, a addArgs) (int, error) { return a.A + a.B, nil }),
			core.Provide(p, "selftest.fail", func(_ context.Context, msg string) (string, error) {
				return "", core.NewError(1001, "failing on purpose: %s", msg)
			}),
		)
	}}
}

// sensorBehavior publishes an increasing reading on every update.
func sensorBehavior() core.Behavior {
	var n int
	return core.Behavior{
		Setup: func(ctx context.Context, p *core.Peer) error { return p.Advertise(topicRaw) },
		Update: func(ctx context.Context, p *core.Peer, _ time.Duration) error {
			n++
			return core.Publish(p, topicRaw, n)
		},
	}
}

// relayBehavior multiplies each raw reading by ten and republishes it.
func relayBehavior() core.Behavior {
	var sub *core.Subscription
	return core.Behavior{
		Setup: func(ctx context.Context, p *core.Peer) error {
			var err error
			if sub, err = p.Subscribe(topicRaw); err != nil {
				return err
			}
			return p.Advertise(topicScaled)
		},
		Update: func(ctx context.Context, p *core.Peer, _ time.Duration) error {
			v, _, err := core.Receive[int](ctx, p, sub)
			if err != nil {
				if ctx.Err() != nil {
					return core.ErrStop
				}
				return fmt.Errorf("relay: %w", err)
			}
			return core.Publish(p, topicScaled, v*10)
		},
	}
}
