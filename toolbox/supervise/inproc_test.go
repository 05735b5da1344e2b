package supervise

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gozmp/zmp/core"
)

// crashable returns a Func body that runs until its context ends or the
// test sends an error on the returned channel (nil: a normal end).
func crashable() (func(context.Context) error, chan error) {
	ch := make(chan error)
	return func(ctx context.Context) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-ch:
			return err
		}
	}, ch
}

func mustFunc(t *testing.T, name string, f func(context.Context) error) *Func {
	t.Helper()
	c, err := NewFunc(name, f)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFuncExits: a Func's return is its exit: nil normal, an error or a
// panic abnormal.
func TestFuncExits(t *testing.T) {
	body, end := crashable()
	panics := make(chan struct{}, 1)
	job := mustFunc(t, "job", body)
	boom := mustFunc(t, "boom", func(ctx context.Context) error {
		select {
		case <-panics:
			panic("on purpose")
		case <-ctx.Done():
			return nil
		}
	})
	s, err := New("sup", OneForOne, []Spec{{Name: "job", Child: job, Restart: Transient}, {Name: "boom", Child: boom}},
		WithBackoff(NoBackoff()), WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(testCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	n := s.counters.exits.Load()
	end <- errCrash
	waitExits(t, s, n)
	if kid := s.Children()[0]; kid.State != ChildRunning || kid.Restarts != 1 || kid.LastExit.Normal || kid.PID != os.Getpid() {
		t.Errorf("after an error: %+v", kid)
	}
	n = s.counters.exits.Load()
	end <- nil
	waitExits(t, s, n)
	if kid := s.Children()[0]; kid.State != ChildStopped || !kid.LastExit.Normal {
		t.Errorf("after a normal end: %+v", kid)
	}
	n = s.counters.exits.Load()
	panics <- struct{}{}
	waitExits(t, s, n)
	if kid := s.Children()[1]; kid.Restarts != 1 || kid.LastExit.Normal || !strings.Contains(kid.LastExit.Error, "on purpose") {
		t.Errorf("after a panic: %+v", kid)
	}
}

// TestInProcessAbandoned: under one_for_all an in-process sibling that
// ignores its context is abandoned at each restart — reported and
// counted — and its goroutine runs on until it returns by itself.
func TestInProcessAbandoned(t *testing.T) {
	release := make(chan struct{})
	running := make(chan struct{}, 8)
	stubborn := mustFunc(t, "stubborn", func(context.Context) error {
		running <- struct{}{}
		<-release // ignores its context
		return nil
	})
	body, crash := crashable()
	good := mustFunc(t, "good", body)
	var abandoned []Event
	evs := make(chan Event, 64)
	s, err := New("sup", OneForAll, []Spec{{Name: "good", Child: good}, {Name: "stubborn", Child: stubborn, Shutdown: 50 * time.Millisecond}},
		WithBackoff(NoBackoff()), WithLogger(quietLogger()), WithEventFunc(func(ev Event) { evs <- ev }))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		close(release)
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	if err := s.Start(testCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	<-running
	start := time.Now()
	n := s.counters.exits.Load()
	crash <- errCrash
	waitExits(t, s, n)
	took := time.Since(start)
	<-running // the new incarnation runs beside the abandoned one
	if st := s.Stats(); st.Abandoned != 1 || st.Killed != 0 {
		t.Errorf("abandoned %d killed %d", st.Abandoned, st.Killed)
	}
	if took > 5*time.Second {
		t.Errorf("the restart took %v: an abandoned child must not hold it beyond its shutdown", took)
	}
	timeout := time.After(10 * time.Second)
	for len(abandoned) == 0 {
		select {
		case ev := <-evs:
			if ev.Kind == EventAbandoned {
				abandoned = append(abandoned, ev)
			}
		case <-timeout:
			t.Fatal("no abandoned event")
		}
	}
	if ev := abandoned[0]; ev.Child != "stubborn" || !errors.Is(ev.Err, core.ErrStopTimeout) {
		t.Errorf("abandoned event %+v", ev)
	}
	if got := s.Children(); got[0].State != ChildRunning || got[1].State != ChildRunning {
		t.Errorf("children %+v", got)
	}
}

// newTestRegistry is a directory registry of its own for one test.
func newTestRegistry(t *testing.T) *core.DirRegistry {
	t.Helper()
	reg, err := core.NewDirRegistry(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestInProcessNodes: in-process core.Node children that honour their
// context are restarted after an Update error and stopped cleanly
// under one_for_all; one whose Teardown ignores its deadline is
// abandoned (its PID is this process's).
func TestInProcessNodes(t *testing.T) {
	reg := newTestRegistry(t)
	fail := make(chan error, 1)
	worker, err := core.NewNode("worker", core.Behavior{
		Update: func(ctx context.Context, _ *core.Peer, _ time.Duration) error {
			select {
			case err := <-fail:
				return err
			case <-ctx.Done():
				return nil
			}
		},
	}, core.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	slow, err := core.NewNode("slow", core.Behavior{
		Teardown: func(context.Context, *core.Peer) error { <-release; return nil },
	}, core.WithRegistry(reg), core.WithStopTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New("nodes", OneForAll, []Spec{{Name: "worker", Child: worker}, {Name: "slow", Child: slow, Shutdown: 100 * time.Millisecond}},
		WithBackoff(NoBackoff()), WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		close(release)
		s.Close()
	}()
	ctx := testCtx(t, 20*time.Second)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	n := s.counters.exits.Load()
	fail <- errCrash
	waitExits(t, s, n)
	kids := s.Children()
	if kids[0].State != ChildRunning || kids[0].Restarts != 1 || kids[0].LastExit.Normal || kids[0].PID != os.Getpid() {
		t.Errorf("worker %+v", kids[0])
	}
	if st := s.Stats(); st.Abandoned != 1 {
		t.Errorf("abandoned %d, want the slow node's Teardown abandoned once", st.Abandoned)
	}
	if st := worker.Status(); st.State != core.StateRunning {
		t.Errorf("worker node %v", st.State)
	}
}
