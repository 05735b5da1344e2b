package supervise_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/gozmp/zmp/core"
	"github.com/gozmp/zmp/toolbox/supervise"
)

// waitUntil polls cond for up to ten seconds.
func waitUntil(cond func() bool) {
	for end := time.Now().Add(10 * time.Second); !cond() && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
}

var quiet = supervise.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))

// A worker that fails on its first run is restarted; the events say
// what the supervisor did.
func ExampleNew() {
	runs := 0
	worker, _ := supervise.NewFunc("worker", func(ctx context.Context) error {
		runs++
		if runs == 1 {
			return errors.New("lost the database")
		}
		<-ctx.Done() // runs until stopped
		return nil
	})
	events := make(chan supervise.Event, 16)
	sup, err := supervise.New("app", supervise.OneForOne,
		[]supervise.Spec{{Name: "worker", Child: worker}},
		supervise.WithEventFunc(func(ev supervise.Event) { events <- ev }), quiet)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sup.Close()
	if err := sup.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	for range 4 {
		ev := <-events
		if ev.Err != nil {
			fmt.Println(ev.Kind, ev.Child, "-", ev.Err)
			continue
		}
		fmt.Println(ev.Kind, ev.Child)
	}
	kid := sup.Children()[0]
	fmt.Println(kid.Name, kid.State, "restarts:", kid.Restarts)
	// Output:
	// started worker
	// exited worker - lost the database
	// restarting worker
	// started worker
	// worker running restarts: 1
}

// A tree: the root restarts a whole subtree when the subtree fails, as
// when its children crash faster than its intensity allows.
func ExampleSupervisor_tree() {
	crashes := make(chan error)
	flaky, _ := supervise.NewFunc("flaky", func(ctx context.Context) error {
		select {
		case err := <-crashes:
			return err
		case <-ctx.Done():
			return nil
		}
	})
	cache, _ := supervise.NewFunc("cache", func(ctx context.Context) error { <-ctx.Done(); return nil })
	// The subtree allows one restart a minute.
	sub, _ := supervise.New("sub", supervise.RestForOne, []supervise.Spec{
		{Name: "cache", Child: cache},
		{Name: "flaky", Child: flaky},
	}, supervise.WithIntensity(1, time.Minute), supervise.WithBackoff(supervise.NoBackoff()), quiet)
	root, _ := supervise.New("root", supervise.OneForOne, []supervise.Spec{
		{Name: "sub", Child: sub, Shutdown: 10 * time.Second},
	}, quiet)
	defer root.Close()
	if err := root.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	crashes <- errors.New("crash 1") // sub restarts flaky
	waitUntil(func() bool { return sub.Children()[1].Restarts == 1 })
	crashes <- errors.New("crash 2") // too many: sub fails, root restarts it
	waitUntil(func() bool { k := root.Children()[0]; return k.Restarts == 1 && k.State == supervise.ChildRunning })
	k := root.Children()[0]
	fmt.Println(k.Name, k.State, "restarts:", k.Restarts, "normal exit:", k.LastExit.Normal)
	fmt.Println(errors.Is(k.LastExit.Err, supervise.ErrIntensity))
	fmt.Println(sub.Count())
	// Output:
	// sub running restarts: 1 normal exit: false
	// true
	// {2 2 0 2}
}

// A SimpleOneForOne supervisor runs any number of children of one
// template, made at run time.
func ExampleSupervisor_Spawn() {
	pool, _ := supervise.New("pool", supervise.SimpleOneForOne, nil,
		supervise.WithTemplate(supervise.Template{
			New: func(name string, arg any) (supervise.Child, error) {
				return supervise.NewFunc(name, func(ctx context.Context) error {
					<-ctx.Done() // a real worker would serve arg's job
					return nil
				})
			},
			Restart: supervise.Transient,
		}), quiet)
	defer pool.Close()
	ctx := context.Background()
	if err := pool.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	for _, job := range []string{"resize", "thumbnail"} {
		name, err := pool.Spawn(ctx, "", job)
		fmt.Println(name, err)
	}
	_ = pool.TerminateChild(ctx, "pool-1")
	fmt.Printf("%+v\n", pool.Count())
	// Output:
	// pool-1 <nil>
	// pool-2 <nil>
	// {Specs:1 Active:1 Supervisors:0 Workers:1}
}

// Significant children end their supervisor when they are done: here a
// job ends normally and takes its helper down with it.
func ExampleWithAutoShutdown() {
	job, _ := supervise.NewFunc("job", func(context.Context) error { return nil })
	helper, _ := supervise.NewFunc("helper", func(ctx context.Context) error { <-ctx.Done(); return nil })
	sup, _ := supervise.New("batch", supervise.OneForOne, []supervise.Spec{
		{Name: "helper", Child: helper},
		{Name: "job", Child: job, Restart: supervise.Transient, Significant: true},
	}, supervise.WithAutoShutdown(supervise.AnySignificant), quiet)
	defer sup.Close()
	if err := sup.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("wait:", sup.Wait(context.Background()))
	fmt.Println(sup.Status().State)
	// Output:
	// wait: <nil>
	// stopped
}

// Attach shows a supervisor in its peer's zmp.stats, which is what
// `zmptool info NODE` prints.
func ExampleSupervisor_Attach() {
	dir, _ := os.MkdirTemp("", "zmp-example")
	defer os.RemoveAll(dir)
	reg, _ := core.NewDirRegistry(dir)
	ctx := context.Background()
	host, err := core.NewPeer(ctx, "host", core.WithRegistry(reg))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer host.Close()

	failed := false
	worker, _ := supervise.NewFunc("worker", func(ctx context.Context) error {
		if !failed {
			failed = true
			return errors.New("boom")
		}
		<-ctx.Done()
		return nil
	})
	sup, _ := supervise.New("app", supervise.OneForOne, []supervise.Spec{{Name: "worker", Child: worker}}, quiet)
	defer sup.Close()
	if err := sup.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	remove, err := sup.Attach(host)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer remove()
	waitUntil(func() bool { return sup.Children()[0].Restarts == 1 })

	st, err := core.Call[core.Stats](ctx, host, core.IntrospectStats, nil, core.OnNode("host"))
	if err != nil {
		fmt.Println(err)
		return
	}
	var shown struct {
		Restarts int
		Children map[string]struct {
			State    string
			Restarts int
		}
	}
	_ = json.Unmarshal(st.Extra["supervise.app"], &shown)
	fmt.Println("restarts:", shown.Restarts)
	fmt.Printf("worker: %+v\n", shown.Children["worker"])
	// Output:
	// restarts: 1
	// worker: {State:running Restarts:1}
}
