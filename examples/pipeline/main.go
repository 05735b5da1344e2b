// Command pipeline runs a pub/sub dataflow of three child-process
// nodes: a source publishes numbers, a squarer republishes their
// squares, and a sink sums them and reports through a service that
// this parent process calls.
//
//	go run ./examples/pipeline
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/gozmp/zmp/core"
)

func source() core.Behavior {
	n := 0
	return core.Behavior{
		Setup: func(ctx context.Context, p *core.Peer) error { return p.Advertise("numbers") },
		Update: func(ctx context.Context, p *core.Peer, _ time.Duration) error {
			n++
			return core.Publish(p, "numbers", n)
		},
	}
}

func squarer() core.Behavior {
	var in *core.Subscription
	return core.Behavior{
		Setup: func(ctx context.Context, p *core.Peer) (err error) {
			in, err = p.Subscribe("numbers")
			return errors.Join(err, p.Advertise("squares"))
		},
		Update: func(ctx context.Context, p *core.Peer, _ time.Duration) error {
			v, _, err := core.Receive[int](ctx, p, in)
			if err != nil {
				return core.ErrStop // stopping
			}
			return core.Publish(p, "squares", v*v)
		},
	}
}

type total struct {
	Count int `json:"count"`
	Sum   int `json:"sum"`
}

func sink() core.Behavior {
	var in *core.Subscription
	var got = make(chan total, 1)
	got <- total{}
	return core.Behavior{
		Setup: func(ctx context.Context, p *core.Peer) (err error) {
			if in, err = p.Subscribe("squares"); err != nil {
				return err
			}
			return core.Provide(p, "total", func(ctx context.Context, _ struct{}) (total, error) {
				t := <-got
				got <- t
				return t, nil
			})
		},
		Update: func(ctx context.Context, p *core.Peer, _ time.Duration) error {
			v, _, err := core.Receive[int](ctx, p, in)
			if err != nil {
				return core.ErrStop
			}
			t := <-got
			got <- total{Count: t.Count + 1, Sum: t.Sum + v}
			return nil
		},
	}
}

func main() {
	os.Exit(run())
}

func run() int {
	l, err := core.NewLauncher()
	if err == nil {
		err = errors.Join(l.Register("source", source), l.Register("squarer", squarer), l.Register("sink", sink))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if code, isChild := l.RunChild(); isChild {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := pipeline(ctx, l); err != nil {
		fmt.Fprintln(os.Stderr, "pipeline:", err)
		return 1
	}
	return 0
}

func pipeline(ctx context.Context, l *core.Launcher) error {
	// Start downstream first so no early message is lost.
	for _, kind := range []string{"sink", "squarer", "source"} {
		opts := []core.Option{}
		if kind == "source" {
			opts = append(opts, core.WithUpdateInterval(20*time.Millisecond))
		}
		n, err := l.NewNode(kind, "pipeline-"+kind, opts...)
		if err != nil {
			return err
		}
		if err := n.Start(ctx); err != nil {
			return err
		}
		defer n.Close()
		fmt.Printf("started %s (pid %d)\n", n.Name(), n.Status().PID)
	}
	client, err := core.NewPeer(ctx, "")
	if err != nil {
		return err
	}
	defer client.Close()
	for range 5 {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
		t, err := core.Call[total](ctx, client, "total", struct{}{}, core.OnNode("pipeline-sink"))
		if err != nil {
			return err
		}
		fmt.Printf("sink has %d squares, sum %d\n", t.Count, t.Sum)
	}
	return nil
}
