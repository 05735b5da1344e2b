package core_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gozmp/zmp/core"
)

// The examples keep to an in-memory or temporary registry so that they
// never touch the user's runtime directory.

func ExampleNewNode() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := core.NewMemRegistry()

	calc, err := core.NewNode("calc", core.Behavior{
		Setup: func(ctx context.Context, p *core.Peer) error {
			return core.Provide(p, "add", func(ctx context.Context, xs []int) (int, error) {
				sum := 0
				for _, x := range xs {
					sum += x
				}
				return sum, nil
			})
		},
	}, core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := calc.Start(ctx); err != nil { // returns once "add" is served
		fmt.Println(err)
		return
	}
	defer calc.Close()

	client, err := core.NewPeer(ctx, "client", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	sum, err := core.Call[int](ctx, client, "add", []int{40, 2})
	fmt.Println(sum, err, calc.Status().State)

	if err := calc.Stop(ctx); err != nil {
		fmt.Println(err)
	}
	fmt.Println(calc.Status().State)
	// Output:
	// 42 <nil> running
	// stopped
}

func ExampleBehavior() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ticks := 0
	n, err := core.NewNode("countdown", core.Behavior{
		Update: func(ctx context.Context, p *core.Peer, elapsed time.Duration) error {
			ticks++
			fmt.Println("tick", ticks)
			if ticks == 3 {
				return core.ErrStop // ends the node cleanly
			}
			return nil
		},
		Teardown: func(ctx context.Context, p *core.Peer) error {
			fmt.Println("teardown")
			return nil
		},
	}, core.WithRegistry(core.NewMemRegistry()), core.WithUpdateInterval(10*time.Millisecond))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()
	if err := n.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("wait:", n.Wait(ctx))
	// Output:
	// tick 1
	// tick 2
	// tick 3
	// teardown
	// wait: <nil>
}

type exampleQuote struct {
	Symbol string
	Qty    int
}

type examplePrice struct {
	Total float64
}

func ExampleCall() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := core.NewMemRegistry()
	shop, err := core.NewPeer(ctx, "shop", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shop.Close()
	err = core.Provide(shop, "quote", func(ctx context.Context, q exampleQuote) (examplePrice, error) {
		return examplePrice{Total: 2.5 * float64(q.Qty)}, nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	buyer, err := core.NewPeer(ctx, "buyer", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer buyer.Close()
	p, err := core.Call[examplePrice](ctx, buyer, "quote", exampleQuote{Symbol: "ZMQ", Qty: 4})
	fmt.Println(p.Total, err)
	// Output: 10 <nil>
}

func ExampleRemoteError() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := core.NewMemRegistry()
	const codeInsufficientFunds core.Code = 1000 // codes from 1000 up are the application's

	bank, err := core.NewPeer(ctx, "bank", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer bank.Close()
	err = core.Provide(bank, "withdraw", func(ctx context.Context, amount int) (int, error) {
		return 0, core.NewError(codeInsufficientFunds, "cannot withdraw %d", amount)
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	client, err := core.NewPeer(ctx, "client", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	_, err = core.Call[int](ctx, client, "withdraw", 100)
	var re *core.RemoteError
	if errors.As(err, &re) {
		fmt.Println(re.Code == codeInsufficientFunds, re.Message, re.Service, re.Node)
	}
	fmt.Println(errors.Is(err, &core.RemoteError{Code: codeInsufficientFunds}))
	// Output:
	// true cannot withdraw 100 withdraw bank
	// true
}

func ExamplePeer_Subscribe() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := core.NewMemRegistry()
	station, err := core.NewPeer(ctx, "station", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer station.Close()
	listener, err := core.NewPeer(ctx, "listener", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer listener.Close()

	sub, err := listener.Subscribe("weather")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()
	if err := station.Advertise("weather"); err != nil {
		fmt.Println(err)
		return
	}
	// Messages published before the subscription reaches the publisher
	// are not delivered: wait for it.
	if err := sub.WaitConnected(ctx, 1); err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range []string{"sunny", "rainy"} {
		if err := core.Publish(station, "weather", w); err != nil {
			fmt.Println(err)
			return
		}
	}
	for range 2 {
		w, m, err := core.Receive[string](ctx, listener, sub)
		fmt.Println(w, m.Topic, m.Publisher, m.Seq, err)
	}
	// Output:
	// sunny weather station 1 <nil>
	// rainy weather station 2 <nil>
}

func ExampleNewMemRegistry() {
	ctx := context.Background()
	reg := core.NewMemRegistry()
	info := core.NodeInfo{Name: "calc", ID: "a1", RPC: "tcp://127.0.0.1:5555", Services: []string{"add"}}
	fmt.Println(reg.Register(ctx, info, time.Minute))

	other := core.NodeInfo{Name: "calc", ID: "b2"}
	fmt.Println(errors.Is(reg.Register(ctx, other, time.Minute), core.ErrNameTaken))

	found, err := core.Providers(ctx, reg, "add")
	fmt.Println(len(found), found[0].Name, found[0].RPC, err)

	fmt.Println(reg.Deregister(ctx, "calc", "a1"))
	_, err = core.Lookup(ctx, reg, "calc")
	fmt.Println(errors.Is(err, core.ErrNotFound))
	// Output:
	// <nil>
	// true
	// 1 calc tcp://127.0.0.1:5555 <nil>
	// <nil>
	// true
}

func ExampleDiscover() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp("", "zmp-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	reg, err := core.NewDirRegistry(dir) // shared by every process given dir
	if err != nil {
		fmt.Println(err)
		return
	}

	echo, err := core.NewNode("echo", core.Behavior{
		Setup: func(ctx context.Context, p *core.Peer) error {
			return core.Provide(p, "echo", func(ctx context.Context, s string) (string, error) { return s, nil })
		},
	}, core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer echo.Close()
	if err := echo.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	nodes, err := core.Discover(ctx, reg, "echo", 1)
	fmt.Println(len(nodes), nodes[0].Name, err)

	if err := echo.Stop(ctx); err != nil {
		fmt.Println(err)
	}
	nodes, err = core.Providers(ctx, reg, "echo")
	fmt.Println(len(nodes), err)
	// Output:
	// 1 echo <nil>
	// 0 <nil>
}

// A program that runs nodes as child processes registers its node kinds,
// calls RunChild first thing in main, then launches nodes.
func ExampleLauncher() {
	l, err := core.NewLauncher()
	if err != nil {
		fmt.Println(err)
		return
	}
	err = l.Register("calc", func() core.Behavior {
		return core.Behavior{Setup: func(ctx context.Context, p *core.Peer) error {
			return core.Provide(p, "add", func(ctx context.Context, xs [2]int) (int, error) { return xs[0] + xs[1], nil })
		}}
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if code, isChild := l.RunChild(); isChild {
		os.Exit(code) // this process was the node
	}

	n, err := l.NewNode("calc", "calc-1")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()
	if err := n.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(n.Status().State, n.Status().PID != os.Getpid())
}

// A service gets a handler pool of its own, which a feedback loop (here
// a single step) can resize while calls run.
func ExamplePeer_SetServiceLimits() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := core.NewMemRegistry()
	srv, err := core.NewPeer(ctx, "renderer", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	started, release := make(chan struct{}), make(chan struct{})
	srv.HandleFunc("render", func(ctx context.Context, req *core.Request) ([]byte, error) {
		started <- struct{}{}
		<-release
		return []byte("done"), nil
	})
	// One render at a time and none waiting: a second is refused at once,
	// and the peer's other services are not held up by renders.
	if err := srv.SetServiceLimits("render", core.ServiceLimits{Concurrency: 1}); err != nil {
		fmt.Println(err)
		return
	}
	client, err := core.NewPeer(ctx, "client", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	call := func() <-chan error {
		done := make(chan error, 1)
		go func() { _, err := client.Call(ctx, "render", nil); done <- err }()
		return done
	}
	first := call()
	<-started
	_, err = client.Call(ctx, "render", nil)
	fmt.Println("second render:", errors.Is(err, core.ErrOverloaded))

	// The limit grows: the next render runs beside the first.
	srv.SetServiceLimits("render", core.ServiceLimits{Concurrency: 2})
	second := call()
	<-started
	st := srv.Stats().Services["render"]
	fmt.Println("running:", st.Running, "refused:", st.Refused)
	close(release)
	fmt.Println(<-first, <-second)
	limits, _ := srv.ServiceLimits("render")
	fmt.Printf("%+v\n", limits)
	// Output:
	// second render: true
	// running: 2 refused: 1
	// <nil> <nil>
	// {Concurrency:2 Queue:0 ConnConcurrency:0 ConnQueue:0}
}

// A stream service takes bodies larger than one message: here an
// install of a 40 MiB snapshot (a small header, the bytes, a small
// reply), and a download of a large value. Neither side holds more
// than a window of chunks (4 of 1 MiB by default) at once.
func ExamplePeer_HandleStream() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reg := core.NewMemRegistry()
	srv, err := core.NewPeer(ctx, "follower", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	err = srv.HandleStream("raft.snapshot", core.StreamHandlerFunc(func(ctx context.Context, r *core.StreamRequest) ([]byte, error) {
		n, err := io.Copy(io.Discard, r.Body) // a real follower writes it to disk
		if err != nil {
			return nil, err
		}
		return fmt.Appendf(nil, "installed %s: %d MiB", r.Header, n>>20), nil
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	err = srv.HandleStream("kv.get", core.StreamHandlerFunc(func(ctx context.Context, r *core.StreamRequest) ([]byte, error) {
		_, err := io.Copy(r.Reply, io.LimitReader(zeros{}, 20<<20)) // the value of key r.Header
		return nil, err
	}))
	if err != nil {
		fmt.Println(err)
		return
	}

	leader, err := core.NewPeer(ctx, "leader", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer leader.Close()
	reply, err := leader.Upload(ctx, "raft.snapshot", []byte("term=3 index=1200"), io.LimitReader(zeros{}, 40<<20), core.OnNode("follower"))
	fmt.Printf("%s %v\n", reply, err)

	value, err := leader.Download(ctx, "kv.get", []byte("big-key"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer value.Close()
	n, err := io.Copy(io.Discard, value)
	fmt.Println(n>>20, "MiB", err)
	// Output:
	// installed term=3 index=1200: 40 MiB <nil>
	// 20 MiB <nil>
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
