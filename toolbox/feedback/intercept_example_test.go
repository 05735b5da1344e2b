package feedback_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/feedback"
)

// A service behind a ServerLimiter whose limit is pinned at 1: while
// one call runs, a second is shed at once with CodeOverloaded, which
// the caller sees as core.ErrOverloaded. The limiter's counters are in
// the peer's zmp.stats.
func ExampleNewServerLimiter() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	lim, _ := feedback.NewVegas(feedback.WithLimitBounds(1, 1), feedback.WithInitialLimit(1))
	sl, err := feedback.NewServerLimiter(lim)
	if err != nil {
		fmt.Println(err)
		return
	}
	reg := core.NewMemRegistry()
	srv, err := core.NewPeer(ctx, "srv", core.WithRegistry(reg), core.WithServerInterceptors(sl.Interceptor()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	if _, err := sl.AddStatsTo(srv, "feedback.limiter"); err != nil {
		fmt.Println(err)
		return
	}
	started, finish := make(chan struct{}), make(chan struct{})
	srv.HandleFunc("slow", func(ctx context.Context, r *core.Request) ([]byte, error) {
		close(started)
		<-finish
		return []byte("done"), nil
	})
	cli, err := core.NewPeer(ctx, "cli", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Close()

	first := make(chan error, 1)
	go func() { _, err := cli.Call(ctx, "slow", nil); first <- err }()
	<-started
	_, err = cli.Call(ctx, "slow", nil)
	fmt.Println("second call shed:", errors.Is(err, core.ErrOverloaded))
	close(finish)
	fmt.Println("first call:", <-first)
	st := sl.Stats()
	fmt.Printf("admitted %d, shed %d, limit %d\n", st.Admitted, st.Shed, st.Limit)
	// Output:
	// second call shed: true
	// first call: <nil>
	// admitted 1, shed 1, limit 1
}

// Partitions keep a share of the limit for important requests, told
// apart by their core.MetaPriority metadata: here interactive calls
// keep half of a limit of 2, so one batch call fills batch's share and
// a second is shed, while an interactive call still gets in.
func ExampleWithPartitions() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	lim, _ := feedback.NewAIMD(feedback.WithLimitBounds(2, 2), feedback.WithInitialLimit(2))
	sl, err := feedback.NewServerLimiter(lim, feedback.WithPartitions(
		feedback.Partition{Name: "interactive", Share: 0.5},
		feedback.Partition{Name: "batch", Share: 0.5},
	))
	if err != nil {
		fmt.Println(err)
		return
	}
	reg := core.NewMemRegistry()
	srv, err := core.NewPeer(ctx, "srv", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	started, finish := make(chan struct{}, 2), make(chan struct{})
	// One service limited on its own: the limiter wraps its handler only.
	srv.Handle("report", core.Intercept(core.HandlerFunc(func(ctx context.Context, r *core.Request) ([]byte, error) {
		started <- struct{}{}
		<-finish
		return nil, nil
	}), sl.Interceptor()))
	cli, err := core.NewPeer(ctx, "cli", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Close()
	call := func(class string) error {
		_, err := cli.Call(ctx, "report", nil, core.WithMetadata(core.Metadata{core.MetaPriority: class}))
		return err
	}

	held := make(chan error, 2)
	go func() { held <- call("batch") }()
	<-started
	fmt.Println("second batch call shed:", errors.Is(call("batch"), core.ErrOverloaded))
	go func() { held <- call("interactive") }()
	<-started
	close(finish)
	fmt.Println(<-held, <-held)
	for _, p := range sl.Stats().Partitions {
		fmt.Printf("%s: admitted %d, shed %d\n", p.Name, p.Admitted, p.Shed)
	}
	// Output:
	// second batch call shed: true
	// <nil> <nil>
	// interactive: admitted 1, shed 0
	// batch: admitted 1, shed 1
}

// A CallLimiter gives each service a peer calls a limit of its own;
// a call beyond it fails at once with ErrLimited, without reaching a
// provider. Calls the provider sheds or that time out lower an
// adaptive limit.
func ExampleNewCallLimiter() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := feedback.NewCallLimiter(func(service string) (feedback.Limiter, error) {
		return feedback.NewAIMD(feedback.WithLimitBounds(1, 1), feedback.WithInitialLimit(1))
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	reg := core.NewMemRegistry()
	srv, err := core.NewPeer(ctx, "srv", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	started, finish := make(chan struct{}), make(chan struct{})
	srv.HandleFunc("slow", func(ctx context.Context, r *core.Request) ([]byte, error) {
		close(started)
		<-finish
		return nil, nil
	})
	cli, err := core.NewPeer(ctx, "cli", core.WithRegistry(reg), core.WithCallInterceptors(cl.Interceptor()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cli.Close()

	first := make(chan error, 1)
	go func() { _, err := cli.Call(ctx, "slow", nil); first <- err }()
	<-started
	_, err = cli.Call(ctx, "slow", nil)
	fmt.Println("second call limited:", errors.Is(err, feedback.ErrLimited))
	close(finish)
	fmt.Println("first call:", <-first)
	for _, s := range cl.Stats() {
		fmt.Printf("%s: admitted %d, limited %d, in flight %d\n", s.Service, s.Admitted, s.Limited, s.InFlight)
	}
	// Output:
	// second call limited: true
	// first call: <nil>
	// slow: admitted 1, limited 1, in flight 0
}
